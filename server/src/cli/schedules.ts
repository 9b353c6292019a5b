/**
 * `cellflow schedules list|pause|resume|delete`: the schedules of the workspace's flows, as the panel
 * shows them, so that a schedule made by `deploy --every` can also be paused or removed from a shell.
 */
import { Command } from 'commander';

import {
  ApiClient,
  usageErrorsExit2,
  type FlowInfo,
  type ScheduleInfo
} from './client.js';
import { pickByIdPrefix } from './id-prefix.js';
import { resolveConnection } from './profile.js';
import { resolveFlow } from './run.js';
import { formatTable, formatTime } from './table.js';

interface FlowSchedule {
  id: string;
  flow: FlowInfo;
  schedule: ScheduleInfo;
}

export function registerSchedulesCommand(program: Command): void {
  const schedules = program
    .command('schedules')
    .description("List, pause, resume or delete the workspace's schedules");

  usageErrorsExit2(
    schedules
      .command('list')
      .description(
        'Every schedule of the workspace (or of one flow), with its next run'
      )
      .option('--flow <flow>', 'only the schedules of this flow (id or name)')
      .action(async (opts: { flow?: string }) => {
        const client = new ApiClient(await resolveConnection());
        const all = await workspaceSchedules(client, opts.flow);
        if (all.length === 0) {
          process.stderr.write(
            opts.flow
              ? `Flow ${opts.flow} has no schedules.\n`
              : 'No schedules. Add one with "cellflow deploy NOTEBOOK --every 10s" or in the panel.\n'
          );
          return;
        }
        process.stdout.write(
          formatTable(
            ['ID', 'FLOW', 'SCHEDULE', 'STATE', 'NEXT RUN', 'PARAMETERS'],
            all.map(({ flow, schedule }) => [
              schedule.id,
              flow.name,
              schedule.description,
              schedule.paused ? 'paused' : 'active',
              schedule.paused ? '-' : formatTime(schedule.nextRuns[0]),
              parametersText(schedule.parameters)
            ])
          ) + '\n'
        );
      })
  );

  for (const [name, paused] of [
    ['pause', true],
    ['resume', false]
  ] as const) {
    usageErrorsExit2(
      schedules
        .command(name)
        .description(
          paused
            ? 'Pause a schedule: its planned runs are removed, none is planned until it is resumed'
            : 'Resume a paused schedule: its next runs are planned again'
        )
        .argument('<schedule>', 'the schedule id, or its first characters')
        .action(async (given: string) => {
          const client = new ApiClient(await resolveConnection());
          const { flow, schedule } = await findSchedule(client, given);
          if (schedule.paused === paused) {
            process.stderr.write(
              `Schedule ${schedule.id} of flow ${flow.name} is already ${paused ? 'paused' : 'active'}.\n`
            );
            return;
          }
          const changed = await client.updateSchedule(schedule.id, { paused });
          process.stderr.write(
            paused
              ? `Paused schedule ${changed.id} of flow ${flow.name} (${changed.description}).\n`
              : `Resumed schedule ${changed.id} of flow ${flow.name} (${changed.description}); next run ${formatTime(changed.nextRuns[0])}.\n`
          );
        })
    );
  }

  usageErrorsExit2(
    schedules
      .command('delete')
      .description(
        'Delete a schedule and its runs that have not started (runs that started stay)'
      )
      .argument('<schedule>', 'the schedule id, or its first characters')
      .action(async (given: string) => {
        const client = new ApiClient(await resolveConnection());
        const { flow, schedule } = await findSchedule(client, given);
        await client.deleteSchedule(schedule.id);
        process.stderr.write(
          `Deleted schedule ${schedule.id} of flow ${flow.name} (${schedule.description}).\n`
        );
      })
  );
}

/** The schedules of every flow (or of the one named), flows in the API's order. */
async function workspaceSchedules(
  client: ApiClient,
  flowIdOrName?: string
): Promise<FlowSchedule[]> {
  const flows = flowIdOrName
    ? [await resolveFlow(client, flowIdOrName)]
    : await client.listFlows();
  const all: FlowSchedule[] = [];
  for (const flow of flows) {
    for (const schedule of await client.listSchedules(flow.id)) {
      all.push({ id: schedule.id, flow, schedule });
    }
  }
  return all;
}

function findSchedule(client: ApiClient, given: string): Promise<FlowSchedule> {
  return workspaceSchedules(client).then(all =>
    pickByIdPrefix(all, given, 'schedule')
  );
}

function parametersText(parameters: Record<string, unknown>): string {
  const entries = Object.entries(parameters ?? {});
  return entries.length
    ? entries
        .map(([name, value]) => `${name}: ${JSON.stringify(value)}`)
        .join(', ')
    : '-';
}
