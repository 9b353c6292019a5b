import { Command } from 'commander';

import { VERSION } from '../version.js';
import { registerCompileCommand } from './compile.js';
import { registerScheduleCommand } from './schedule.js';
import { registerServerCommand } from './server.js';

/** Entry point of the `cellflow` command. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('cellflow')
    .description(
      'Run notebook flows on Jupyter kernels, on schedule, with retries.'
    )
    .version(VERSION);
  registerServerCommand(program);
  registerCompileCommand(program);
  registerScheduleCommand(program);
  await program.parseAsync(argv);
}
