import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/cellflow.js', import.meta.url));

/** Start `cellflow server` on a free port; resolves with the child and its address once it listens. */
async function startServer() {
  // A data directory of its own: the default one may be locked by a server the user runs.
  const dataDir = mkdtempSync(join(tmpdir(), 'cellflow-server-command-'));
  const child = spawn(
    process.execPath,
    [bin, 'server', '--port', '0', '--data-dir', dataDir],
    {
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  let out = '';
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', chunk => {
      out += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        resolve(match[1]);
      }
    });
    child.once('exit', code =>
      reject(new Error(`server exited with ${code} before listening: ${out}`))
    );
  });
  child.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  return { child, address, output: () => out };
}

describe('cellflow server', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`serves /api/health and stops cleanly on ${signal}`, async () => {
      const { child, address, output } = await startServer();
      const res = await fetch(`${address}/api/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'ok' });

      const exited = once(child, 'exit');
      child.kill(signal);
      const [code] = await exited;
      expect(code).toBe(0);
      expect(output()).toContain(`stopping (${signal})`);
      // Nothing listens any more.
      await expect(fetch(`${address}/api/health`)).rejects.toThrow();
    });
  }

  it('refuses a bad port with a message that names it', () => {
    let stderr = '';
    try {
      execFileSync(process.execPath, [bin, 'server', '--port', 'eighty'], {
        stdio: 'pipe'
      });
    } catch (err) {
      stderr = String((err as { stderr: Buffer }).stderr);
    }
    expect(stderr).toContain('--port must be a whole number');
    expect(stderr).toContain('"eighty"');
    expect(stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('refuses a lease outside 3 to 600 seconds with a message that names it', () => {
    for (const lease of ['2', '601', 'soon']) {
      let stderr = '';
      try {
        execFileSync(process.execPath, [bin, 'server', '--lease', lease], {
          stdio: 'pipe'
        });
      } catch (err) {
        stderr = String((err as { stderr: Buffer }).stderr);
      }
      expect(stderr).toContain(
        `--lease must be a number of seconds from 3 to 600, got "${lease}"`
      );
    }
  });

  it('refuses a pool name that is not one, for the server and a worker, naming the option', () => {
    for (const [command, extra] of [
      ['server', []],
      ['worker', ['--health-port', 'x']]
    ] as const) {
      let stderr = '';
      try {
        execFileSync(
          process.execPath,
          [bin, command, '--pool', 'gpu,no spaces', ...extra],
          { stdio: 'pipe' }
        );
      } catch (err) {
        stderr = String((err as { stderr: Buffer }).stderr);
      }
      expect(stderr).toContain(
        '--pool must be letters, digits, "-" and "_" (at most 63), got "no spaces"'
      );
    }
    let stderr = '';
    try {
      execFileSync(process.execPath, [bin, 'worker', '--health-port', 'x'], {
        stdio: 'pipe'
      });
    } catch (err) {
      stderr = String((err as { stderr: Buffer }).stderr);
    }
    expect(stderr).toContain(
      '--health-port must be a whole number from 0 to 65535, got "x"'
    );
  });

  it('refuses a kernel gateway that is not an http or https URL, naming the option', () => {
    for (const url of ['ftp://gateway:8888', 'gateway:8888', 'not a url']) {
      let stderr = '';
      try {
        execFileSync(
          process.execPath,
          [bin, 'worker', '--kernel-gateway', url],
          { stdio: 'pipe' }
        );
      } catch (err) {
        stderr = String((err as { stderr: Buffer }).stderr);
      }
      expect(stderr).toContain(
        `--kernel-gateway must be an http or https URL, got "${url}"`
      );
    }
  });

  it('refuses an output cap outside 1 to 1024 MB with a message that names it', () => {
    for (const cap of ['0', '2048', 'big']) {
      let stderr = '';
      try {
        execFileSync(process.execPath, [bin, 'server', '--output-cap', cap], {
          stdio: 'pipe'
        });
      } catch (err) {
        stderr = String((err as { stderr: Buffer }).stderr);
      }
      expect(stderr).toContain(
        `--output-cap must be a number of MB from 1 to 1024, got "${cap}"`
      );
    }
  });
});
