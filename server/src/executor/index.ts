export { startKernel, defaultPython } from './start-kernel.js';
export type { StartKernelOptions } from './start-kernel.js';
export { ZmqKernel } from './zmq-kernel.js';
export type { KernelExit, RunKernel } from './run-kernel.js';
