// Public entry point of the fennec-mqtt package.
export * from './errors/index.js';
