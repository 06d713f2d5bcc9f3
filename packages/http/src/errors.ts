import { AppError, errors, internalProblem, isAppError, type FieldError } from '@kv/errors';
import type { Logger } from '@kv/logger';
import { errorFields } from '@kv/logger';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { getRequestId } from './request-context';

const PROBLEM_JSON = 'application/problem+json';

/** Turns zod issues into the contract's `errors: [{path, message}]`. */
export function toFieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
}

/**
 * Parses `value` with `schema` or throws a 400 `validation-error`.
 * @throws AppError VALIDATION_ERROR with one field error per issue.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where = 'body'): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw errors.validation(toFieldErrors(result.error), `The request ${where} is invalid.`);
  }
  return result.data;
}

/**
 * Parses path parameters; a malformed id is a 404 (the contract: "A malformed id in the path is a 404").
 * @throws AppError NOT_FOUND
 */
export function parseParamsOrNotFound<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what = 'resource',
): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw errors.notFound(what);
  return result.data;
}

/** Writes a problem+json response for `err`. */
export function sendProblem(res: Response, err: AppError): void {
  if (err.headers) for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res
    .status(err.status)
    .type(PROBLEM_JSON)
    .send(JSON.stringify(err.toProblem(getRequestId(res))));
}

interface BodyParserError {
  type?: string;
  status?: number;
}

/** Maps body-parser and other framework errors onto contract errors; `undefined` if not one of them. */
function fromFrameworkError(err: unknown): AppError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { type, status } = err as BodyParserError;
  switch (type) {
    case 'entity.parse.failed':
      return errors.validation(
        [{ path: '', message: 'Malformed JSON body.' }],
        'The request body is not valid JSON.',
      );
    case 'entity.too.large':
      return new AppError('PAYLOAD_TOO_LARGE', 'The request body is larger than 1 MiB.');
    case 'encoding.unsupported':
    case 'charset.unsupported':
    case 'request.size.invalid':
    case 'request.aborted':
      return errors.validation(
        [{ path: '', message: 'Unreadable request body.' }],
        'The request body could not be read.',
      );
    default:
      if (typeof status === 'number' && status >= 400 && status < 500) {
        return errors.validation([{ path: '', message: 'Bad request.' }], 'The request is invalid.');
      }
      return undefined;
  }
}

/**
 * The one error middleware: AppError → its problem; body-parser errors → 400/413; anything else →
 * a generic 500 that is logged with its cause and never echoed.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, next: (e?: unknown) => void) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const known = isAppError(err) ? err : fromFrameworkError(err);
    if (known) {
      if (known.status >= 500)
        logger.warn('request failed', {
          status: known.status,
          code: known.code,
          ...errorFields(known.cause ?? known),
        });
      sendProblem(res, known);
      return;
    }
    logger.error('unhandled error', { method: req.method, path: req.path, ...errorFields(err) });
    res
      .status(500)
      .type(PROBLEM_JSON)
      .send(JSON.stringify(internalProblem(getRequestId(res))));
  };
}

/** 404 problem for routes that do not exist. */
export function notFoundHandler(): RequestHandler {
  return (_req, res) => {
    sendProblem(res, errors.notFound('route'));
  };
}
