/** `cellflow runs`: the workspace's runs, newest first, as a table. */
import { Command, InvalidArgumentError } from 'commander';

import { ApiClient, usageErrorsExit2 } from './client.js';
import { resolveConnection } from './profile.js';
import { resolveFlow } from './run.js';
import { durationBetween, formatTable, formatTime } from './table.js';

export function registerRunsCommand(program: Command): void {
  usageErrorsExit2(
    program
      .command('runs')
      .description('List runs, newest first')
      .option('--flow <flow>', 'only runs of this flow (id or name)')
      .option(
        '--state <state>',
        'only runs in this state (Scheduled, Pending, Running, Completed, Failed, Crashed, Cancelled, ...)'
      )
      .option('--limit <n>', 'at most this many runs (1-500)', parseLimit, 20)
      .action(
        async (opts: { flow?: string; state?: string; limit: number }) => {
          const client = new ApiClient(await resolveConnection());
          const flows = await client.listFlows();
          const flowId = opts.flow
            ? (await resolveFlow(client, opts.flow)).id
            : undefined;
          const { runs } = await client.listRuns({
            flowId,
            state: opts.state,
            limit: opts.limit
          });
          if (runs.length === 0) {
            process.stderr.write('No runs.\n');
            return;
          }
          const names = new Map(flows.map(flow => [flow.id, flow.name]));
          process.stdout.write(
            formatTable(
              [
                'ID',
                'FLOW',
                'STATE',
                'TRIGGER',
                'SCHEDULED',
                'STARTED',
                'DURATION'
              ],
              runs.map(run => [
                run.id,
                names.get(run.flowId) ?? run.flowId,
                run.state,
                run.trigger,
                formatTime(run.scheduledAt),
                formatTime(run.startedAt),
                durationBetween(run.startedAt, run.endedAt)
              ])
            ) + '\n'
          );
        }
      )
  );
}

function parseLimit(value: string): number {
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
    throw new InvalidArgumentError('expected a whole number from 1 to 500.');
  }
  return limit;
}
