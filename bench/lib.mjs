// Shared helpers of the benchmarks: statistics, notebooks of no-op cells, the peers' environment and
// the README table, so every benchmark reports figures the same way.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = dirname(BENCH_DIR);
export const PEERS_VENV = join(BENCH_DIR, '.venv-peers');

export function quantile(sorted, q) {
  if (sorted.length === 0) {
    return NaN;
  }
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1]
  };
}

/** An nbformat 4.5 notebook of `count` task cells whose body is `pass`. */
export function noopNotebook(count, { tasks = true } = {}) {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3',
        language: 'python'
      }
    },
    cells: Array.from({ length: count }, (_, i) => ({
      cell_type: 'code',
      id: `noop-${i}`,
      metadata: {},
      source: tasks ? `%%task t${i}\npass` : 'pass',
      outputs: [],
      execution_count: null
    }))
  };
}

/** The peers, pinned (issue 11), in one environment shared by every benchmark. */
export const PEER_REQUIREMENTS = [
  'prefect==3.9.1',
  'papermill==2.7.0',
  'nbclient==0.11.0',
  'ipykernel==7.4.0',
  'nbformat==5.10.4',
  'jupyter-scheduler==2.12.1',
  'jupyterlab==4.6.6',
  'pandas==3.1.1',
  'requests==2.34.2'
];

/** A virtual environment of its own for the peers (never the project's .venv), pinned. */
export function ensurePeersVenv(requirements) {
  const python = join(PEERS_VENV, 'bin', 'python');
  if (!existsSync(python)) {
    execFileSync(
      join(ROOT, '.venv', 'bin', 'python'),
      ['-m', 'venv', PEERS_VENV],
      { stdio: 'inherit' }
    );
  }
  const stamp = join(PEERS_VENV, '.requirements');
  const wanted = requirements.join('\n');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== wanted) {
    execFileSync(
      join(PEERS_VENV, 'bin', 'pip'),
      ['install', '-q', ...requirements],
      { stdio: 'inherit' }
    );
    writeFileSync(stamp, wanted);
  }
  return python;
}

export function machine() {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/**
 * Replace the part of bench/README.md between `<!-- name:start -->` and `<!-- name:end -->` with `text`,
 * so each benchmark rewrites only its own table.
 */
export function writeReadmeSection(name, text) {
  const file = join(BENCH_DIR, 'README.md');
  const readme = readFileSync(file, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < 0) {
    throw new Error(`bench/README.md has no ${start} … ${end} section`);
  }
  writeFileSync(
    file,
    readme.slice(0, from + start.length) +
      '\n' +
      text.trim() +
      '\n' +
      readme.slice(to)
  );
}

export const ms = value => `${value.toFixed(2)} ms`;

/** A free TCP port on 127.0.0.1 (for servers that cannot report the port they chose). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
