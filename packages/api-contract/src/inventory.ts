import { defineRoutes } from './routes';

/** Public routes of the inventory area (schemas above, route table below). */
export const inventoryRoutes = defineRoutes([]);
