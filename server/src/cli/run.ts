/**
 * `cellflow run FLOW [-p name=value]... [--watch] [--refresh-cache]`: starts a run now. Parameter values travel as the
 * strings typed; the server coerces them to the declared types and names any it refuses.
 */
import { Command, InvalidArgumentError } from 'commander';

import {
  ApiClient,
  CliError,
  usageErrorsExit2,
  type FlowInfo
} from './client.js';
import { resolveConnection } from './profile.js';
import { watchRun } from './watch.js';

export function registerRunCommand(program: Command): void {
  usageErrorsExit2(
    program
      .command('run')
      .description('Start a run of a deployed flow now; prints the run id')
      .argument('<flow>', 'the flow id or name')
      .option(
        '-p, --param <name=value>',
        'a parameter value (repeat for more); the server converts it to the parameter type',
        collectParameter,
        {} as Record<string, string>
      )
      .option(
        '--refresh-cache',
        'skip cached task results (tasks with --cache-for run, and their results are stored afresh)'
      )
      .option(
        '--watch',
        'follow the run live and exit 0 only if it Completed (1 otherwise)'
      )
      .action(
        async (
          flowArg: string,
          opts: {
            param: Record<string, string>;
            watch?: boolean;
            refreshCache?: boolean;
          }
        ) => {
          const client = new ApiClient(await resolveConnection());
          const flow = await resolveFlow(client, flowArg);
          const run = await client.createRun(flow.id, opts.param, {
            refreshCache: opts.refreshCache
          });
          for (const warning of run.warnings ?? []) {
            process.stderr.write(`warning: ${warning}\n`);
          }
          process.stdout.write(`${run.id}\n`);
          if (!opts.watch) {
            return;
          }
          const { version } = await client.getFlow(flow.id);
          const retries = new Map(
            (version.spec.tasks ?? []).map(task => [
              task.name,
              task.retries ?? 0
            ])
          );
          const state = await watchRun(client, run.id, {
            retries,
            write: line => process.stdout.write(`${line}\n`)
          });
          process.exitCode = state === 'Completed' ? 0 : 1;
        }
      )
  );
}

/** `-p name=value`, split at the first '=' so values may contain '='. */
export function collectParameter(
  value: string,
  previous: Record<string, string>
): Record<string, string> {
  const equals = value.indexOf('=');
  if (equals <= 0) {
    // Commander reports it as a usage error naming the option and the value.
    throw new InvalidArgumentError('expected name=value.');
  }
  return { ...previous, [value.slice(0, equals)]: value.slice(equals + 1) };
}

/** A flow by id, else by name, among the workspace's flows. */
export async function resolveFlow(
  client: ApiClient,
  idOrName: string
): Promise<FlowInfo> {
  const flows = await client.listFlows();
  const flow =
    flows.find(f => f.id === idOrName) ?? flows.find(f => f.name === idOrName);
  if (!flow) {
    throw new CliError(
      `no flow with the id or name "${idOrName}" in this workspace; deploy it with "cellflow deploy NOTEBOOK"`
    );
  }
  return flow;
}
