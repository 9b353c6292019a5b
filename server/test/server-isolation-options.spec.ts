/**
 * What startCellflowServer decides about isolation and the data dir before it serves anybody: kernels
 * without isolation are refused on a non-loopback address unless allowed, and the data dir is private
 * (files 0600, folders 0700) whatever it was before, saying so.
 */
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  rm,
  writeFile
} from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  isLoopbackHost,
  startCellflowServer,
  type CellflowServer
} from '../src/start.js';
import { python } from './runs-helpers.js';

const dirs: string[] = [];
const servers: CellflowServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map(s => s.close()));
  await Promise.all(dirs.map(d => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join('/var/tmp', 'cellflow-options-'));
  dirs.push(dir);
  return dir;
}

async function modes(root: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  const visit = async (path: string) => {
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) {
      return;
    }
    found.set(path, stat.mode & 0o777);
    if (stat.isDirectory()) {
      for (const name of await readdir(path)) {
        await visit(join(path, name));
      }
    }
  };
  await visit(root);
  return found;
}

describe('startCellflowServer', () => {
  it('refuses kernels without isolation on a non-loopback address, unless told', async () => {
    const dataDir = join(await tempDir(), 'data');
    await expect(
      startCellflowServer({
        dataDir,
        host: '0.0.0.0',
        port: 0,
        isolation: 'none',
        kernelPython: python,
        warmKernels: 0,
        env: {},
        onNotice: () => undefined
      })
    ).rejects.toThrow(
      /refusing to listen on 0\.0\.0\.0.*--allow-unisolated-kernels/
    );

    const notices: string[] = [];
    const server = await startCellflowServer({
      dataDir,
      host: '0.0.0.0',
      port: 0,
      isolation: 'none',
      allowUnisolatedKernels: true,
      kernelPython: python,
      warmKernels: 0,
      env: {},
      onNotice: text => notices.push(text)
    });
    servers.push(server);
    expect(server.isolation.mode).toBe('none');
    expect(notices.join('\n')).toMatch(
      /warning: kernels run without isolation/
    );
    await server.close();
  });

  it('runs kernels in the sandbox by default, without a warning', async () => {
    const notices: string[] = [];
    const server = await startCellflowServer({
      dataDir: join(await tempDir(), 'data'),
      port: 0,
      kernelPython: python,
      warmKernels: 0,
      env: {},
      onNotice: text => notices.push(text)
    });
    servers.push(server);
    expect(server.isolation.mode).toBe('sandbox');
    expect(notices.filter(n => n.includes('warning'))).toEqual([]);
    await server.close();
  });

  it('makes the data dir private: files 0600, folders 0700, whatever they were, and says so', async () => {
    const dataDir = join(await tempDir(), 'data');
    await mkdir(join(dataDir, 'flows', 'old'), { recursive: true });
    await writeFile(join(dataDir, 'flows', 'old', 'result.csv'), 'a,b\n');
    await chmod(join(dataDir, 'flows', 'old', 'result.csv'), 0o666);
    await chmod(join(dataDir, 'flows', 'old'), 0o777);
    await chmod(join(dataDir, 'flows'), 0o755);
    await chmod(dataDir, 0o755);
    const before = process.umask(0o022);
    const notices: string[] = [];
    try {
      const server = await startCellflowServer({
        dataDir,
        port: 0,
        kernelPython: python,
        warmKernels: 0,
        env: {},
        onNotice: text => notices.push(text)
      });
      servers.push(server);
      // What the store wrote while opening counts too (PGlite's files, the admin socket).
      const found = await modes(dataDir);
      const open = [...found].filter(([path, mode]) =>
        path.endsWith('.sock') ? mode !== 0o600 : mode & 0o077
      );
      expect(open).toEqual([]);
      expect(found.size).toBeGreaterThan(10);
      expect(notices.join('\n')).toMatch(
        /made 4 file\(s\) and folder\(s\) in the data dir .* private/
      );
      await server.close();
    } finally {
      process.umask(before);
    }
  });

  it('knows loopback addresses', () => {
    expect(
      ['127.0.0.1', '127.1.2.3', 'localhost', '::1'].every(isLoopbackHost)
    ).toBe(true);
    expect(
      ['0.0.0.0', '::', '10.0.0.5', 'cellflow.example'].some(isLoopbackHost)
    ).toBe(false);
  });
});
