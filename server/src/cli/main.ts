import { Command } from 'commander';

import { VERSION } from '../version.js';
import { registerCompileCommand } from './compile.js';
import { registerDeployCommand } from './deploy.js';
import { registerKeysCommand } from './keys.js';
import { registerLoginCommand } from './login.js';
import { registerLogsCommand } from './logs.js';
import { registerNotifyCommands } from './notify.js';
import { registerRunCommand } from './run.js';
import { registerRunsCommand } from './runs.js';
import { registerScheduleCommand } from './schedule.js';
import { registerSchedulesCommand } from './schedules.js';
import { registerSecretsCommand } from './secrets.js';
import { registerServerCommand } from './server.js';
import { registerWorkerCommand } from './worker.js';
import { registerWorkersCommand } from './workers.js';

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
  registerWorkerCommand(program);
  registerWorkersCommand(program);
  registerCompileCommand(program);
  registerScheduleCommand(program);
  registerSchedulesCommand(program);
  registerKeysCommand(program);
  registerSecretsCommand(program);
  registerLoginCommand(program);
  registerDeployCommand(program);
  registerRunCommand(program);
  registerRunsCommand(program);
  registerLogsCommand(program);
  registerNotifyCommands(program);
  await program.parseAsync(argv);
}
