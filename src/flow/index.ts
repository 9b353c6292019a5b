// The flow package's public surface, for the extension and the server alike.
export * from './spec.js';
export * from './kernel.js';
export * from './compiler.js';
export * from './flow-name.js';
export * from './magic.js';
export * from './parameters.js';
export * from './hash.js';
export * from './validate.js';
export * from './validate-graph.js';
export * from './validate-notebook.js';
export * from './python-literal.js';
export * from './runner.js';
export * from './backoff.js';
export * from './limits.js';
export * from './log-text.js';
export * from './cache-duration.js';
export * from './task-cache.js';
