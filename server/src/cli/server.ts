import { Command } from 'commander';

import { startCellflowServer } from '../start.js';

interface ServerCommandOptions {
  host: string;
  port: number;
  dataDir?: string;
  rootDir?: string;
  maxConcurrentRuns?: number;
  retryGrace?: number;
  warmKernels?: number;
}

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('Start the Cellflow server')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--port <port>',
      'port to listen on',
      value => parsePort(value),
      8787
    )
    .option(
      '--data-dir <dir>',
      'the embedded store, admin socket and kernel folders (default: $CELLFLOW_DATA_DIR, else ~/.local/share/cellflow)'
    )
    .option(
      '--root-dir <dir>',
      'notebooks deployed from under this folder run with their own folder as working directory'
    )
    .option(
      '--max-concurrent-runs <n>',
      'how many runs execute at once (default 4)',
      value => parseCount(value)
    )
    .option(
      '--retry-grace <seconds>',
      "how long a failed run's kernel is kept so a retry continues in it with the upstream state (default 300; 0: never, a retry replays the completed tasks)",
      value => parseSeconds(value)
    )
    .option(
      '--warm-kernels <n>',
      'kernels started ahead of runs, so a run does not wait for one to start (default 1; 0: none)',
      value => parseCount(value, 0, '--warm-kernels')
    )
    .action(async (opts: ServerCommandOptions) => {
      const server = await startCellflowServer({
        host: opts.host,
        port: opts.port,
        dataDir: opts.dataDir,
        rootDir: opts.rootDir,
        maxConcurrentRuns: opts.maxConcurrentRuns,
        retryGraceMs:
          opts.retryGrace === undefined ? undefined : opts.retryGrace * 1000,
        warmKernels: opts.warmKernels
      });
      if (server.crashedAtStart.length > 0) {
        process.stdout.write(
          `Marked ${server.crashedAtStart.length} run(s) left Running by a previous server as Crashed\n`
        );
      }
      process.stdout.write(`Cellflow server listening on ${server.address}\n`);
      // Stop cleanly on Ctrl-C or a service manager's TERM: stop listening, stop the runs and their
      // kernels, close the admin socket and the store, then exit.
      const stop = (signal: string) => {
        process.stdout.write(`Cellflow server stopping (${signal})\n`);
        // A stop that hangs (a client holding a stream open, a kernel that will not die) must not
        // leave the service manager waiting forever.
        setTimeout(() => {
          process.stderr.write(
            'Cellflow server: stopping took too long; exiting\n'
          );
          process.exit(1);
        }, 20_000).unref();
        server.close().then(
          () => process.exit(0),
          () => process.exit(1)
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(
      `--port must be a whole number from 0 to 65535, got "${value}"`
    );
  }
  return port;
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
    throw new Error(
      `--retry-grace must be a number of seconds of at least 0, got "${value}"`
    );
  }
  return seconds;
}

function parseCount(
  value: string,
  min = 1,
  option = '--max-concurrent-runs'
): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < min) {
    throw new Error(
      `${option} must be a whole number of at least ${min}, got "${value}"`
    );
  }
  return count;
}
