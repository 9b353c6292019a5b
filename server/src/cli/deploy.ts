/**
 * `cellflow deploy NOTEBOOK`: sends the notebook to the server, which compiles it (the same compiler as
 * `cellflow compile`) and stores a new immutable version of the flow.
 */
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';

import { Command } from 'commander';

import type { FlowProblem } from '../../../src/flow/spec.js';
import { ApiClient, ApiError, usageErrorsExit2 } from './client.js';
import { resolveConnection } from './profile.js';

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
      .action(
        async (path: string, opts: { name?: string; kernel?: string }) => {
          process.exitCode = await deploy(path, opts);
        }
      )
  );
}

async function deploy(
  path: string,
  opts: { name?: string; kernel?: string }
): Promise<number> {
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
  const name =
    opts.name ?? metadataName(notebook) ?? basename(path, extname(path));
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
  return 0;
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

function metadataName(notebook: unknown): string | undefined {
  const name = (notebook as { metadata?: { cellflow?: { name?: unknown } } })
    ?.metadata?.cellflow?.name;
  return typeof name === 'string' && name.trim() ? name : undefined;
}
