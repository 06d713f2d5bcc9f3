export * from './common';
export * from './auth';
export * from './routes';
export * from './inventory';
export * from './accounting';
export * from './iam';
export { ROUTES } from './all-routes';
