export { startKernel, defaultPython } from './start-kernel.js';
export type { StartKernelOptions } from './start-kernel.js';
export { ZmqKernel, toOutput } from './zmq-kernel.js';
export type { KernelExit } from './zmq-kernel.js';
