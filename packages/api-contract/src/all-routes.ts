import { accountingRoutes } from './accounting';
import { iamRoutes } from './iam';
import { inventoryRoutes } from './inventory';
import type { RouteSpec } from './routes';

/** Every public route of the contract. */
export const ROUTES: RouteSpec[] = [...iamRoutes, ...inventoryRoutes, ...accountingRoutes];
