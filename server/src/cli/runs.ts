/**
 * `cellflow runs`: the workspace's runs, newest first, as a table; `--upcoming`: the runs the scheduler
 * has planned (Scheduled or Late), soonest first.
 */
import { Command, InvalidArgumentError } from 'commander';

import { ApiClient, usageErrorsExit2, type RunInfo } from './client.js';
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
      .option(
        '--upcoming',
        'only runs planned by schedules that have not started (Scheduled, Late), soonest first'
      )
      .action(
        async (opts: {
          flow?: string;
          state?: string;
          limit: number;
          upcoming?: boolean;
        }) => {
          if (opts.upcoming && opts.state !== undefined) {
            process.stderr.write(
              'cellflow runs: --upcoming lists Scheduled and Late runs; it cannot be combined with --state\n'
            );
            process.exitCode = 2;
            return;
          }
          const client = new ApiClient(await resolveConnection());
          const flows = await client.listFlows();
          const flowId = opts.flow
            ? (await resolveFlow(client, opts.flow)).id
            : undefined;
          const names = new Map(flows.map(flow => [flow.id, flow.name]));
          if (opts.upcoming) {
            const runs = await upcomingRuns(client, flowId, opts.limit);
            if (runs.length === 0) {
              process.stderr.write('No upcoming runs.\n');
              return;
            }
            process.stdout.write(
              formatTable(
                ['ID', 'FLOW', 'STATE', 'SCHEDULED', 'PARAMETERS'],
                runs.map(run => [
                  run.id,
                  names.get(run.flowId) ?? run.flowId,
                  run.state,
                  formatTime(run.scheduledAt),
                  Object.keys(run.parameters ?? {}).length
                    ? JSON.stringify(run.parameters)
                    : '-'
                ])
              ) + '\n'
            );
            return;
          }
          const { runs } = await client.listRuns({
            flowId,
            state: opts.state,
            limit: opts.limit
          });
          if (runs.length === 0) {
            process.stderr.write('No runs.\n');
            return;
          }
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
                run.waitingFor
                  ? `${run.state} (waiting for ${run.waitingFor})`
                  : run.state,
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

/** Pages bounding the look-up: planned runs are a short horizon ahead, never thousands. */
const MAX_PAGES = 20;

/**
 * Scheduled and Late runs, soonest first. The API lists newest-created first, and planning order is
 * not time order after a schedule change, so every planned run is read before sorting.
 */
async function upcomingRuns(
  client: ApiClient,
  flowId: string | undefined,
  limit: number
): Promise<RunInfo[]> {
  const all: RunInfo[] = [];
  for (const state of ['Late', 'Scheduled']) {
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await client.listRuns({
        flowId,
        state,
        limit: 500,
        cursor
      });
      all.push(...result.runs);
      if (!result.nextCursor) {
        break;
      }
      cursor = result.nextCursor;
    }
  }
  const at = (run: RunInfo) =>
    run.scheduledAt ? Date.parse(run.scheduledAt) : Number.POSITIVE_INFINITY;
  return all.sort((a, b) => at(a) - at(b)).slice(0, limit);
}

function parseLimit(value: string): number {
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
    throw new InvalidArgumentError('expected a whole number from 1 to 500.');
  }
  return limit;
}
