export * from './request-context';
export * from './errors';
export * from './json';
export * from './health';
export * from './serve';
