/**
 * A kernel start whose ports are taken before the kernel binds them (another process, or two starts
 * picking the same port) is tried again on new ports, and says how many tries it took.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  makeConnectionInfo,
  portsOf,
  releasePorts,
  type ConnectionInfo
} from '../src/executor/connection.js';
import { startKernel, type ZmqKernel } from '../src/executor/index.js';

const python = new URL('../../.venv/bin/python', import.meta.url).pathname;
const kernels: ZmqKernel[] = [];
const listeners: Server[] = [];
const accepted: Socket[] = [];

afterEach(async () => {
  await Promise.all(kernels.splice(0).map(k => k.kill()));
  accepted.splice(0).forEach(s => s.destroy());
  await Promise.all(
    listeners.splice(0).map(s => new Promise(resolve => s.close(resolve)))
  );
});

/** A listening socket on a free loopback port: a port somebody else took. */
function occupied(): Promise<number> {
  return new Promise((resolve, reject) => {
    // Our own client sockets connect to it: they are dropped with it.
    const server = createServer(socket => accepted.push(socket));
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      listeners.push(server);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

/** Connection info whose shell port is already listened on by another socket. */
async function taken(): Promise<ConnectionInfo> {
  const info = await makeConnectionInfo();
  releasePorts(info);
  return { ...info, shell_port: await occupied() };
}

describe('kernel start on ports taken meanwhile', () => {
  it('starts on new ports when the first try’s ports are taken, and reports 2 tries', async () => {
    const tries: number[] = [];
    const warnings: string[] = [];
    const kernel = await startKernel({
      python,
      connectionInfo: async attempt => {
        tries.push(attempt);
        return attempt === 1 ? taken() : makeConnectionInfo();
      },
      onWarning: line => warnings.push(line)
    });
    kernels.push(kernel);
    expect(tries).toEqual([1, 2]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('started at try 2 of 5');
    expect(warnings[0]).toContain('Address already in use');
    const result = await kernel.execute('1 + 1');
    expect(result.status).toBe('ok');
  });

  it('gives up after the last try, saying how many it made', async () => {
    const tries: number[] = [];
    const error = await startKernel({
      python,
      startTries: 2,
      connectionInfo: async attempt => {
        tries.push(attempt);
        return taken();
      }
    }).then(
      () => null,
      (e: Error) => e
    );
    expect(tries).toEqual([1, 2]);
    expect(error?.message).toContain('Address already in use');
    expect(error?.message).toContain('2 tries, each on new ports');
  });

  it('does not try again when the kernel fails for another reason', async () => {
    const tries: number[] = [];
    const error = await startKernel({
      python: '/bin/false',
      connectionInfo: async attempt => {
        tries.push(attempt);
        return makeConnectionInfo();
      }
    }).then(
      () => null,
      (e: Error) => e
    );
    expect(tries).toEqual([1]);
    expect(error?.message).toMatch(/exited before it was ready|died/);
    expect(error?.message).not.toContain('tries');
  });

  it('never gives two kernels starting at the same time the same port', async () => {
    // A run's kernel and the warm one started for its next run pick their ports at the same moment.
    const infos = await Promise.all(
      Array.from({ length: 150 }, () => makeConnectionInfo())
    );
    const ports = infos.flatMap(portsOf);
    infos.forEach(releasePorts);
    expect(new Set(ports).size).toBe(ports.length);
  });
});
