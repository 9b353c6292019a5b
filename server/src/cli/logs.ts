/** `cellflow logs RUN`: the stored log lines of a run (all tasks, or one). */
import { Command } from 'commander';

import { logTextRows } from '../../../src/flow/log-text.js';
import { ApiClient, CliError, usageErrorsExit2 } from './client.js';
import { resolveRunId } from './id-prefix.js';
import { resolveConnection } from './profile.js';

export function registerLogsCommand(program: Command): void {
  usageErrorsExit2(
    program
      .command('logs')
      .description(
        "Print a run's log lines (each prefixed with its task unless --task is given)"
      )
      .argument(
        '<run>',
        'the run id, or its first characters (from "cellflow run", "cellflow runs" or the panel)'
      )
      .option('--task <name>', 'only the lines of this task')
      .action(async (given: string, opts: { task?: string }) => {
        const client = new ApiClient(await resolveConnection());
        const runId = await resolveRunId(client, given);
        let after: number | undefined;
        let printed = 0;
        // The server answers in pages: ask for the lines after the last one seen until none are left.
        for (;;) {
          const lines = await client.logs(runId, { task: opts.task, after });
          if (lines.length === 0) {
            break;
          }
          for (const line of lines) {
            const prefix = opts.task ? '' : `${line.task ?? '-'}| `;
            for (const text of logTextRows(line.text)) {
              process.stdout.write(`${prefix}${text}\n`);
            }
            printed += 1;
          }
          const last = lines[lines.length - 1].id;
          if (after !== undefined && last <= after) {
            throw new CliError(
              `the server sent log lines out of order (id ${last} after ${after}); stopping`
            );
          }
          after = last;
        }
        if (printed === 0) {
          process.stderr.write(
            `No log lines for run ${runId}${opts.task ? ` and task ${opts.task}` : ''}.\n`
          );
        }
      })
  );
}
