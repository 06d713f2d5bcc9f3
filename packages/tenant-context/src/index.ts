export * from './context';
export * from './transaction';
export * from './identity';
