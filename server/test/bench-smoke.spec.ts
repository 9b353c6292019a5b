/**
 * The peers benchmark (issue 11) is not part of the tests' pass/fail: its timings never decide a test.
 * This only checks that the one command starts: `--dry-run` and `--help` list the workloads and the
 * pinned peers, load every module of the benchmark, install nothing and leave bench/README.md alone.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'bench', 'peers.mjs');
const README = join(ROOT, 'bench', 'README.md');

function runScript(
  args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', chunk => (stdout += chunk));
    child.stderr.on('data', chunk => (stderr += chunk));
    child.on('error', reject);
    child.on('close', code => resolve({ code, stdout, stderr }));
  });
}

describe('npm run bench:peers', () => {
  it('is the root package.json script that runs bench/peers.mjs', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts['bench:peers']).toContain('node bench/peers.mjs');
  });

  it('--dry-run lists the five workloads and the pinned peers, and touches nothing', async () => {
    const before = statSync(README).mtimeMs;
    const { code, stdout, stderr } = await runScript(['--dry-run']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    for (const workload of [
      '1. 100 no-op tasks',
      '2. The tutorial ETL',
      '3. Retries',
      '4. Schedules (only with --schedules',
      '5. Memory'
    ]) {
      expect(stdout).toContain(workload);
    }
    for (const pin of [
      'prefect==3.9.1',
      'papermill==2.7.0',
      'jupyter-scheduler==2.12.1'
    ]) {
      expect(stdout).toContain(pin);
    }
    expect(statSync(README).mtimeMs).toBe(before);
  });

  it('--help names the options, and the schedules flag shows in the plan', async () => {
    const { code, stdout } = await runScript([
      '--help',
      '--schedules',
      '--rounds',
      '3'
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain('--schedules');
    expect(stdout).toContain('3 rounds each, schedules on');
  });

  it('refuses an unknown option', async () => {
    const { code, stderr } = await runScript(['--no-such-option']);
    expect(code).not.toBe(0);
    expect(stderr).toContain('--no-such-option');
  });

  it('refuses a count that is not a whole number, naming the option', async () => {
    const { code, stderr } = await runScript(['--dry-run', '--rounds', 'ten']);
    expect(code).toBe(2);
    expect(stderr).toContain('--rounds must be a whole number');
  });
});
