import { readFile } from 'node:fs/promises';

import { Command } from 'commander';

import { compileNotebook } from '../../../src/flow/compiler.js';
import type { FlowProblem } from '../../../src/flow/spec.js';

/** Exit code for a notebook that cannot be compiled (unreadable, not JSON, or with problems). */
export const COMPILE_FAILED = 2;

/** `cellflow compile NOTEBOOK`: prints the flow spec as JSON, or every problem, one per line. */
export function registerCompileCommand(program: Command): void {
  program
    .command('compile')
    .description(
      'Compile a notebook into its flow spec (JSON on stdout), or list its problems'
    )
    .argument('<notebook>', 'the .ipynb file')
    .option(
      '--name <name>',
      'the flow name (default: the notebook metadata cellflow.name, else the file name)'
    )
    .action(async (path: string, opts: { name?: string }) => {
      process.exitCode = await compileFile(path, opts.name);
    });
}

/** Does the work of the command and returns its exit code; messages go to stdout and stderr. */
export async function compileFile(
  path: string,
  name?: string
): Promise<number> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'no such file'
        : errorMessage(error);
    process.stderr.write(`cellflow compile: cannot read ${path}: ${reason}\n`);
    return COMPILE_FAILED;
  }
  let notebook: unknown;
  try {
    notebook = JSON.parse(text);
  } catch (error) {
    process.stderr.write(
      `cellflow compile: ${path} is not valid JSON: ${errorMessage(error)}\n`
    );
    return COMPILE_FAILED;
  }
  const result = compileNotebook(notebook, { name, path });
  for (const warning of result.warnings) {
    process.stderr.write(`${path}: warning: ${formatProblem(warning)}\n`);
  }
  if (!result.ok) {
    const count = result.problems.length;
    process.stderr.write(
      `cellflow compile: ${path} has ${count} problem${count === 1 ? '' : 's'}:\n`
    );
    for (const problem of result.problems) {
      process.stderr.write(`${path}: ${formatProblem(problem)}\n`);
    }
    return COMPILE_FAILED;
  }
  process.stdout.write(JSON.stringify(result.spec, null, 2) + '\n');
  return 0;
}

/** The message already names the cell; the cell id is added for tools that jump to it. */
function formatProblem(problem: FlowProblem): string {
  const id = problem.cellId ? ` [cell id ${problem.cellId}]` : '';
  return `${problem.message}${id}`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
