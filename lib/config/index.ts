export * from './environments';
export * from './schema';
export * from './feature-flags';
export * from './workflow';
export * from './delivery';
