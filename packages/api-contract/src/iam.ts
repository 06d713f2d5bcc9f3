import { defineRoutes } from './routes';

/** Public routes of the iam area (schemas above, route table below). */
export const iamRoutes = defineRoutes([]);
