import { Command } from 'commander';

import { buildServer } from '../app.js';

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('Start the Cellflow server')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--port <port>',
      'port to listen on',
      value => parsePort(value),
      8787
    )
    .action(async (opts: { host: string; port: number }) => {
      const app = await buildServer({ logger: false });
      const address = await app.listen({ host: opts.host, port: opts.port });
      process.stdout.write(`Cellflow server listening on ${address}\n`);
      // Stop cleanly on Ctrl-C or a service manager's TERM: close the listener, then exit.
      const stop = (signal: string) => {
        process.stdout.write(`Cellflow server stopping (${signal})\n`);
        app.close().then(
          () => process.exit(0),
          () => process.exit(1)
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(
      `--port must be a whole number from 0 to 65535, got "${value}"`
    );
  }
  return port;
}
