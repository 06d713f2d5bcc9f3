export * from './common';
export * from './auth';
export * from './routes';
export { ROUTES } from './all-routes';
