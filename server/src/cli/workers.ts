/** `cellflow workers`: who executes runs now, for which pools, and who drains. */
import { Command } from 'commander';

import { ApiClient } from './client.js';
import { resolveConnection } from './profile.js';
import { formatTable } from './table.js';

export function registerWorkersCommand(program: Command): void {
  program
    .command('workers')
    .description(
      'List the live workers (and servers with an executor) and the pools each serves'
    )
    .action(async () => {
      const client = new ApiClient(await resolveConnection());
      const workers = await client.listWorkers();
      if (workers.length === 0) {
        process.stderr.write(
          'No worker is running: runs stay Pending until one of their pool starts.\n'
        );
        return;
      }
      process.stdout.write(
        formatTable(
          ['NAME', 'POOLS', 'STATE', 'STARTED', 'LAST HEARTBEAT'],
          workers.map(w => [
            w.name,
            w.pools.join(','),
            w.draining ? 'draining' : 'ready',
            w.startedAt,
            w.heartbeatAt
          ])
        ) + '\n'
      );
    });
}
