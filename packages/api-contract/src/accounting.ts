import { defineRoutes } from './routes';

/** Public routes of the accounting area (schemas above, route table below). */
export const accountingRoutes = defineRoutes([]);
