import type { RouteSpec } from './routes';

/**
 * Every public route of the contract, from each area's file. Areas add theirs here:
 * `...inventoryRoutes, ...accountingRoutes, ...gatewayRoutes`.
 */
export const ROUTES: RouteSpec[] = [];
