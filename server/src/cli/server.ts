import { Command } from 'commander';

import { ISOLATION_MODES, type IsolationMode } from '../executor/sandbox.js';
import {
  ALLOWED_HOSTS_ENV,
  CORS_ORIGINS_ENV,
  PUBLIC_URL_ENV,
  TRUST_PROXY_ENV,
  parseAllowedHost,
  parseCorsOrigin,
  parsePublicUrl,
  parseTrustProxy,
  splitList,
  type TrustProxy
} from '../deployment-settings.js';
import { SMTP_FROM_ENV, SMTP_URL_ENV } from '../notifications/settings.js';
import {
  parseRetention,
  RETENTION_DAYS_MAX,
  RETENTION_RUNS_MAX
} from '../retention.js';
import { startCellflowServer, type CellflowServerOptions } from '../start.js';
import { checkPoolName } from '../store/store.js';

const ISOLATION_HELP = `how notebook code is kept from the server and from other workspaces:
  sandbox  each kernel in a bubblewrap sandbox (Linux; the default wherever bwrap works): the system
           read-only, a private /tmp, its own PID namespace (no view of the server's processes), only
           its run's folder writable; the data dir (store, admin socket, secrets key, other flows'
           folders), the lab's root dir, home folders and login profiles invisible; an environment of
           its own (never the server's variables), plus its workspace's secrets.
           It does not limit the network (kernels reach what this host reaches), CPU or memory.
  none     a plain child process with an environment of its own: notebook code can read everything this
           server's user can (the store, the admin socket, other workspaces). Warned about at start;
           refused on a non-loopback --host unless --allow-unisolated-kernels.
  (default: sandbox when bubblewrap works here, else none with a warning)`;
export interface ExecutorCommandOptions {
  dataDir?: string;
  rootDir?: string;
  maxConcurrentRuns?: number;
  retryGrace?: number;
  warmKernels?: number;
  isolation?: IsolationMode;
  allowUnisolatedKernels?: boolean;
  kernelUser?: boolean;
  secretsKeyFile?: string;
  lease?: number;
  outputCap?: number;
  pool?: string[];
  kernelGateway?: string;
  gatewayToken?: string;
}

interface ServerCommandOptions extends ExecutorCommandOptions {
  retentionDays?: number;
  retentionRuns?: number;
  host: string;
  port: number;
  executor?: boolean;
  failedAuthLimit?: number;
  allowedHost?: string[];
  publicUrl?: string;
  trustProxy?: TrustProxy;
  corsOrigin?: string[];
  smtpUrl?: string;
  smtpFrom?: string;
  notifyAttempts?: number;
}

/** A repeatable option whose every value may also be a comma-separated list. */
function repeatable(
  parse: (value: string, setting: string) => string,
  setting: string
) {
  return (value: string, previous: string[] | undefined): string[] => [
    ...(previous ?? []),
    ...splitList(value, setting).map(entry => parse(entry, setting))
  ];
}

export function registerServerCommand(program: Command): void {
  const command = program
    .command('server')
    .description('Start the Cellflow server')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--port <port>',
      'port to listen on',
      value => parsePort(value),
      8787
    )
    .option(
      '--no-executor',
      'API and scheduler only: runs are executed by `cellflow worker`s on the same PostgreSQL'
    )
    .option(
      '--failed-auth-limit <n>',
      'failed authentications allowed per client address and minute; then 429 with Retry-After until the minute has passed (default 20)',
      value => parseCount(value, 1, '--failed-auth-limit')
    )
    .option(
      '--allowed-host <name>',
      `a name (or IP, or *.example.org) clients may reach this server by, checked against the Host header against DNS rebinding; repeatable, or comma-separated in $${ALLOWED_HOSTS_ENV}. Loopback names, the --host address and the --public-url host are always allowed`,
      repeatable(parseAllowedHost, '--allowed-host')
    )
    .option(
      '--public-url <url>',
      `the http(s) URL users reach this server at (behind a proxy, the proxy's), for links; its host is allowed (default: $${PUBLIC_URL_ENV})`,
      value => parsePublicUrl(value)
    )
    .option(
      '--trust-proxy [proxies]',
      `behind a reverse proxy: honour X-Forwarded-For/-Host/-Proto from it (client address, Host check, scheme). Give the proxies' addresses/CIDRs/loopback, comma-separated; alone it trusts any peer, and the first X-Forwarded-For address, which a client can write, becomes the client address (default: $${TRUST_PROXY_ENV}, else never)`,
      value => parseTrustProxy(value)
    )
    .option(
      '--cors-origin <origin>',
      `a browser origin (https://lab.example.org) allowed to call the API; repeatable, or comma-separated in $${CORS_ORIGINS_ENV} (default: the local lab, http://127.0.0.1:8888 and http://localhost:8888)`,
      repeatable(parseCorsOrigin, '--cors-origin')
    )
    .option(
      '--retention-days <n>',
      `remove ended runs older than this many days, with their logs, outputs and executed notebooks; checked at start and hourly (1 to ${RETENTION_DAYS_MAX}; default: $CELLFLOW_RETENTION_DAYS, else kept forever)`,
      value => parseRetention(value, '--retention-days', RETENTION_DAYS_MAX)
    )
    .option(
      '--smtp-url <url>',
      `the SMTP server notification e-mail goes through, smtp[s]://[user:password@]host[:port] (prefer $${SMTP_URL_ENV}: a command line is visible to every user of the machine)`
    )
    .option(
      '--smtp-from <address>',
      `the sender of notification e-mail (default: $${SMTP_FROM_ENV}, else cellflow@<host name>)`
    )
    .option(
      '--notify-attempts <n>',
      'tries per notification before it is given up and listed Failed, 1 to 50 (default 8; retried after 10 s, 20 s, ... up to an hour)',
      value => parseNotifyAttempts(value)
    )
    .option(
      '--retention-runs <n>',
      `keep only the newest this many runs of each flow, removing older ended ones likewise (1 to ${RETENTION_RUNS_MAX}; default: $CELLFLOW_RETENTION_RUNS, else all)`,
      value => parseRetention(value, '--retention-runs', RETENTION_RUNS_MAX)
    );
  addExecutorOptions(command);
  command.action(async (opts: ServerCommandOptions) => {
    const server = await startCellflowServer({
      ...executorSettings(opts),
      executor: opts.executor,
      host: opts.host,
      port: opts.port,
      failedAuthLimit: opts.failedAuthLimit,
      allowedHosts: opts.allowedHost,
      publicUrl: opts.publicUrl,
      trustProxy: opts.trustProxy,
      allowedOrigins: opts.corsOrigin,
      retentionDays: opts.retentionDays,
      retentionRuns: opts.retentionRuns,
      smtpUrl: opts.smtpUrl,
      smtpFrom: opts.smtpFrom,
      notifyAttempts: opts.notifyAttempts
    });
    process.stdout.write(`${kernelsNotice(server)}\n`);
    if (server.crashedAtStart.length > 0) {
      process.stdout.write(
        `Marked ${server.crashedAtStart.length} run(s) left Running by a previous server as Crashed\n`
      );
    }
    if (server.publicUrl) {
      process.stdout.write(`Public URL: ${server.publicUrl}\n`);
    }
    process.stdout.write(`Cellflow server listening on ${server.address}\n`);
    // Stop cleanly on Ctrl-C or a service manager's TERM: stop listening, stop the runs and their
    // kernels, close the admin socket and the store, then exit.
    const stop = (signal: string) => {
      process.stdout.write(`Cellflow server stopping (${signal})\n`);
      // A stop that hangs (a client holding a stream open, a kernel that will not die) must not
      // leave the service manager waiting forever.
      setTimeout(() => {
        process.stderr.write(
          'Cellflow server: stopping took too long; exiting\n'
        );
        process.exit(1);
      }, 20_000).unref();
      server.close().then(
        () => process.exit(0),
        () => process.exit(1)
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

/** The executor options as startCellflowServer and startCellflowWorker take them. */
export function executorSettings(
  opts: ExecutorCommandOptions
): CellflowServerOptions {
  return {
    pools: opts.pool,
    dataDir: opts.dataDir,
    rootDir: opts.rootDir,
    maxConcurrentRuns: opts.maxConcurrentRuns,
    retryGraceMs:
      opts.retryGrace === undefined ? undefined : opts.retryGrace * 1000,
    warmKernels: opts.warmKernels,
    isolation: opts.isolation,
    allowUnisolatedKernels: opts.allowUnisolatedKernels,
    kernelUser: opts.kernelUser,
    secretsKeyFile: opts.secretsKeyFile,
    leaseMs: opts.lease === undefined ? undefined : opts.lease * 1000,
    kernelGateway: opts.kernelGateway,
    gatewayToken: opts.gatewayToken,
    outputCapBytes:
      opts.outputCap === undefined
        ? undefined
        : Math.round(opts.outputCap * 1024 * 1024)
  };
}

/**
 * The options of a process that executes runs, shared by `cellflow server` and `cellflow worker`:
 * where kernels run and how, how many, their leases and what they keep.
 */
export function addExecutorOptions(command: Command): Command {
  return command
    .option(
      '--data-dir <dir>',
      'the embedded store, admin socket and kernel folders (default: $CELLFLOW_DATA_DIR, else ~/.local/share/cellflow)'
    )
    .option(
      '--root-dir <dir>',
      'notebooks deployed from under this folder run with their own folder as working directory'
    )
    .option(
      '--max-concurrent-runs <n>',
      'how many runs execute at once (default 4)',
      value => parseCount(value)
    )
    .option(
      '--retry-grace <seconds>',
      "how long a failed run's kernel is kept so a retry continues in it with the upstream state (default 300; 0: never, a retry replays the completed tasks)",
      value => parseSeconds(value)
    )
    .option(
      '--warm-kernels <n>',
      'kernels started ahead of runs, so a run does not wait for one to start: one for each of the most recently run (workspace, folder), inside its sandbox (default 1; 0: none)',
      value => parseCount(value, 0, '--warm-kernels')
    )
    .option('--isolation <mode>', ISOLATION_HELP, value =>
      parseIsolation(value)
    )
    .option(
      '--secrets-key-file <file>',
      'the key that encrypts workspace secrets in the store, kept apart from it (default: $CELLFLOW_SECRETS_KEY_FILE, else <data-dir>/secrets.key, made on first start, 0600; or the key itself, base64, in $CELLFLOW_SECRETS_KEY). Servers sharing one PostgreSQL need the same key'
    )
    .option(
      '--lease <seconds>',
      "how long a run's lease lasts, 3 to 600 (default 15): renewed every third of it; runs whose lease runs out (their process died without coming back) are marked Crashed",
      value => parseLease(value)
    )
    .option(
      '--output-cap <MB>',
      'the outputs kept of each task attempt and executed-notebook cell, in MB of nbformat JSON, 1 to 1024 (default 16); past it the rest is dropped and the cell says what was cut',
      value => parseOutputCap(value)
    )
    .option(
      '--kernel-user',
      "run each workspace's kernels as an OS user of its own (cf-<hash>, made on first use; the server must run as root; a notebook's folder under --root-dir must be writable by that user)"
    )
    .option(
      '--allow-unisolated-kernels',
      'allow --isolation none (or a machine without bubblewrap) on a non-loopback --host'
    )
    .option(
      '--kernel-gateway <url>',
      "start kernels on this Jupyter Kernel Gateway or Enterprise Gateway (http[s]://host:port/) instead of this machine; isolation is then the gateway's (default: $CELLFLOW_KERNEL_GATEWAY)",
      value => parseGatewayUrl(value)
    )
    .option(
      '--gateway-token <token>',
      "the kernel gateway's token, sent as an Authorization header (prefer $CELLFLOW_GATEWAY_TOKEN: a command line is visible to every user of the machine)"
    )
    .option(
      '--pool <name>',
      'a work pool whose runs this process executes (repeatable; default: default). A flow names its pool with `cellflow deploy --pool` or PATCH /api/flows/:flowId/settings',
      repeatable(pool => {
        checkPoolName(pool, '--pool');
        return pool;
      }, '--pool')
    );
}

function parseGatewayUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(
      `--kernel-gateway must be an http or https URL, got "${value}"`
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(
      `--kernel-gateway must be an http or https URL, got "${value}"`
    );
  }
  return value;
}

/** What a starting server or worker says of its kernels: where they run, how they are isolated. */
export function kernelsNotice(process: {
  kernelGateway: string | null;
  isolation: { mode: string };
}): string {
  if (process.kernelGateway) {
    return `Kernels start on the kernel gateway ${process.kernelGateway} (isolated by the gateway)`;
  }
  return process.isolation.mode === 'sandbox'
    ? 'Kernels run in a bubblewrap sandbox (--isolation sandbox)'
    : 'Kernels run WITHOUT isolation (--isolation none)';
}

function parseIsolation(value: string): IsolationMode {
  if (!(ISOLATION_MODES as readonly string[]).includes(value)) {
    throw new Error(
      `--isolation must be one of ${ISOLATION_MODES.join(', ')}, got "${value}"`
    );
  }
  return value as IsolationMode;
}

export function parsePort(value: string, option = '--port'): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(
      `${option} must be a whole number from 0 to 65535, got "${value}"`
    );
  }
  return port;
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
    throw new Error(
      `--retry-grace must be a number of seconds of at least 0, got "${value}"`
    );
  }
  return seconds;
}

function parseLease(value: string): number {
  const seconds = Number(value);
  if (
    value.trim() === '' ||
    !Number.isFinite(seconds) ||
    seconds < 3 ||
    seconds > 600
  ) {
    throw new Error(
      `--lease must be a number of seconds from 3 to 600, got "${value}"`
    );
  }
  return seconds;
}

function parseOutputCap(value: string): number {
  const mb = Number(value);
  if (value.trim() === '' || !Number.isFinite(mb) || mb < 1 || mb > 1024) {
    throw new Error(
      `--output-cap must be a number of MB from 1 to 1024, got "${value}"`
    );
  }
  return mb;
}

function parseNotifyAttempts(value: string): number {
  const count = parseCount(value, 1, '--notify-attempts');
  if (count > 50) {
    throw new Error(`--notify-attempts must be at most 50, got "${value}"`);
  }
  return count;
}

function parseCount(
  value: string,
  min = 1,
  option = '--max-concurrent-runs'
): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < min) {
    throw new Error(
      `${option} must be a whole number of at least ${min}, got "${value}"`
    );
  }
  return count;
}
