/**
 * `cellflow deploy NOTEBOOK [--every 10s | --cron EXPR [--tz ZONE]]`: sends the notebook to the server,
 * which compiles it (the same compiler as `cellflow compile`) and stores a new immutable version of the
 * flow; with a schedule option, then adds that schedule unless the flow has an equal one already.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

import { Command } from 'commander';

import { defaultFlowName } from '../../../src/flow/flow-name.js';
import type { FlowProblem } from '../../../src/flow/spec.js';
import {
  FLOW_RETRIES_MAX,
  FLOW_RETRY_DELAY_MAX,
  checkPoolName
} from '../store/store.js';
import { ApiClient, ApiError, usageErrorsExit2 } from './client.js';
import {
  ensureSchedule,
  scheduleFromOptions,
  scheduleLines,
  type DeployScheduleOptions
} from './deploy-schedule.js';
import { resolveConnection } from './profile.js';
import { collectParameter } from './run.js';

/** Exit code for a notebook that cannot be deployed as it is (unreadable, not JSON, or with problems). */
export const DEPLOY_REFUSED = 2;

export function registerDeployCommand(program: Command): void {
  usageErrorsExit2(
    program
      .command('deploy')
      .description(
        'Deploy a notebook as a flow (a new version if the name exists); prints the flow id and version'
      )
      .argument('<notebook>', 'the .ipynb file')
      .option(
        '--name <name>',
        'the flow name (default: the notebook metadata cellflow.name, else the file name)'
      )
      .option('--kernel <name>', 'the kernelspec runs use (default: python3)')
      .option(
        '--every <duration>',
        'also run it on an interval: 10s, 5m, 2h, 1d or seconds'
      )
      .option(
        '--cron <expression>',
        'also run it on a cron schedule: 5 fields, or 6 with seconds first (quote it)'
      )
      .option(
        '--tz <zone>',
        "IANA time zone of the schedule (default: this machine's)"
      )
      .option(
        '-p, --param <name=value>',
        "a parameter value for the schedule's runs (repeat for more)",
        collectParameter,
        {} as Record<string, string>
      )
      .option(
        '--flow-retries <n>',
        'retry a crashed run (its process or kernel died, not its code) automatically up to n times, 0 to 10 (default: as the flow has it, 0 for a new flow)'
      )
      .option(
        '--flow-retry-delay <seconds>',
        'wait this long before each such retry, 0 to 3600 (default: as the flow has it, 0 for a new flow)'
      )
      .option(
        '--pool <name>',
        'the work pool whose workers execute its runs (`cellflow worker --pool NAME`; default: as the flow has it, `default` for a new flow)'
      )
      .action(async (path: string, opts: DeployOptions) => {
        process.exitCode = await deploy(path, opts);
      })
  );
}

interface DeployOptions extends DeployScheduleOptions {
  name?: string;
  kernel?: string;
  flowRetries?: string;
  flowRetryDelay?: string;
  pool?: string;
}

/** The flow settings asked for, or the message saying which option is wrong. */
function flowSettings(
  opts: DeployOptions
): { retries?: number; retryDelay?: number; pool?: string } | string {
  const settings: { retries?: number; retryDelay?: number; pool?: string } = {};
  if (opts.pool !== undefined) {
    try {
      checkPoolName(opts.pool, '--pool');
    } catch (error) {
      return (error as Error).message;
    }
    settings.pool = opts.pool;
  }
  for (const [option, value, max, key] of [
    ['--flow-retries', opts.flowRetries, FLOW_RETRIES_MAX, 'retries'],
    [
      '--flow-retry-delay',
      opts.flowRetryDelay,
      FLOW_RETRY_DELAY_MAX,
      'retryDelay'
    ]
  ] as const) {
    if (value === undefined) {
      continue;
    }
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > max) {
      return `${option} must be a whole number from 0 to ${max}, got "${value}"`;
    }
    settings[key] = n;
  }
  return settings;
}

async function deploy(path: string, opts: DeployOptions): Promise<number> {
  // A bad schedule stops the command before the notebook is read or anything is deployed.
  const wanted = scheduleFromOptions(opts);
  if (!wanted.ok) {
    process.stderr.write(`cellflow deploy: ${wanted.message}\n`);
    return DEPLOY_REFUSED;
  }
  const settings = flowSettings(opts);
  if (typeof settings === 'string') {
    process.stderr.write(`cellflow deploy: ${settings}\n`);
    return DEPLOY_REFUSED;
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    process.stderr.write(
      `cellflow deploy: cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}\n`
    );
    return DEPLOY_REFUSED;
  }
  let notebook: unknown;
  try {
    notebook = JSON.parse(text);
  } catch (error) {
    process.stderr.write(
      `cellflow deploy: ${path} is not valid JSON: ${(error as Error).message}\n`
    );
    return DEPLOY_REFUSED;
  }
  // The lab's rule too (src/flow/flow-name.ts): one notebook is one flow from either side.
  const name = opts.name ?? defaultFlowName(notebook, path);
  // A server sharing this file system (--root-dir) runs the kernel in the notebook's own folder.
  withPath(notebook, resolve(path));
  const client = new ApiClient(await resolveConnection());
  let deployed;
  try {
    deployed = await client.deployFlow({
      name,
      notebook,
      ...(opts.kernel === undefined ? {} : { kernelName: opts.kernel })
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) {
      printRefusal(path, error);
      return DEPLOY_REFUSED;
    }
    throw error;
  }
  const { flow, version } = deployed;
  const tasks = version.spec.tasks?.map(task => task.name) ?? [];
  process.stderr.write(
    `Deployed ${path} as flow "${flow.name}" version ${version.version}` +
      (tasks.length ? ` (tasks: ${tasks.join(', ')})` : '') +
      ` on kernel ${version.kernelName}.\n`
  );
  process.stdout.write(`${flow.id} ${version.version}\n`);
  if (Object.keys(settings).length > 0) {
    const { flow: set } = await client.request<{
      flow: { retries: number; retryDelay: number; pool: string };
    }>('PATCH', `/api/flows/${encodeURIComponent(flow.id)}/settings`, settings);
    if (settings.retries !== undefined || settings.retryDelay !== undefined) {
      process.stderr.write(
        `Crashed runs are retried automatically up to ${set.retries} time(s), ${set.retryDelay} s after the crash.\n`
      );
    }
    if (settings.pool !== undefined) {
      process.stderr.write(
        `Its runs are executed by workers of pool ${set.pool}.\n`
      );
    }
  }
  if (wanted.schedule) {
    const { schedule, added } = await ensureSchedule(
      client,
      flow.id,
      wanted.schedule
    );
    process.stderr.write(scheduleLines(schedule, added).join('\n') + '\n');
  }
  return 0;
}

/** Records the notebook's absolute path in `metadata.cellflow.path` (see server/src/runs/workdir.ts). */
function withPath(notebook: unknown, absolute: string): void {
  if (typeof notebook !== 'object' || notebook === null) {
    return; // Not a notebook: the server's compiler says so.
  }
  const nb = notebook as { metadata?: unknown };
  const metadata =
    typeof nb.metadata === 'object' && nb.metadata !== null
      ? (nb.metadata as Record<string, unknown>)
      : (nb.metadata = {} as Record<string, unknown>);
  const cellflow =
    typeof metadata.cellflow === 'object' && metadata.cellflow !== null
      ? (metadata.cellflow as Record<string, unknown>)
      : (metadata.cellflow = {} as Record<string, unknown>);
  cellflow.path = absolute;
}

/** The server's 400: every compiler problem on its own line naming the cell, else its one message. */
function printRefusal(path: string, error: ApiError): void {
  const problems = error.problems;
  if (problems.length === 0) {
    process.stderr.write(`cellflow deploy: ${path}: ${error.message}\n`);
    return;
  }
  const count = problems.length;
  process.stderr.write(
    `cellflow deploy: the server refused ${path}: ${count} problem${count === 1 ? '' : 's'}:\n`
  );
  for (const problem of problems) {
    process.stderr.write(`${path}: ${formatProblem(problem)}\n`);
  }
}

function formatProblem(problem: FlowProblem): string {
  const id = problem.cellId ? ` [cell id ${problem.cellId}]` : '';
  return `${problem.message}${id}`;
}
