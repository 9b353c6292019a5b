/**
 * `cellflow worker`: claims and executes the runs of its work pools from the PostgreSQL its API servers
 * share, on any machine. No API: a health endpoint only. SIGTERM drains (the runs executing here end as
 * they end, nothing new is claimed), a second signal stops at once.
 */
import { Command } from 'commander';

import { startCellflowWorker } from '../start.js';
import {
  addExecutorOptions,
  executorSettings,
  kernelsNotice,
  parsePort,
  type ExecutorCommandOptions
} from './server.js';

interface WorkerCommandOptions extends ExecutorCommandOptions {
  host: string;
  healthPort: number;
  name?: string;
}

export function registerWorkerCommand(program: Command): void {
  const command = program
    .command('worker')
    .description(
      'Execute the runs of work pools from the shared PostgreSQL (DATABASE_URL), beside `cellflow server --no-executor`'
    )
    .option(
      '--host <host>',
      'address of the health endpoint (GET /health)',
      '127.0.0.1'
    )
    .option(
      '--health-port <port>',
      'port of the health endpoint (0 picks a free one)',
      value => parsePort(value, '--health-port'),
      8790
    )
    .option('--name <name>', 'how this worker shows in `cellflow workers`');
  addExecutorOptions(command);
  command.action(async (opts: WorkerCommandOptions) => {
    const worker = await startCellflowWorker({
      ...executorSettings(opts),
      host: opts.host,
      port: opts.healthPort,
      workerName: opts.name
    });
    process.stdout.write(
      `${kernelsNotice(worker)}\nCellflow worker of pool(s) ${worker.runs.pools.join(', ')}; health on ${worker.address}/health\n`
    );
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        process.stdout.write(`Cellflow worker stopping now (${signal})\n`);
        void worker.close().then(
          () => process.exit(0),
          () => process.exit(1)
        );
        return;
      }
      stopping = true;
      process.stdout.write(
        `Cellflow worker draining (${signal}): ${worker.runs.running.length} run(s) to finish, nothing new claimed\n`
      );
      void worker
        .drain()
        .then(() => worker.close())
        .then(
          () => process.exit(0),
          () => process.exit(1)
        );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
