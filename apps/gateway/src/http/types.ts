import type { NextFunction, Request, Response } from 'express';

/** An async Express handler (Express 5 routes a rejected promise to the error middleware). */
export type AsyncHandler = (req: Request, res: Response, next: NextFunction) => Promise<void>;
