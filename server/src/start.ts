/**
 * The Cellflow server process, composed: the store, the event hub, the HTTP API, the admin socket, the
 * run service and the scheduler, started in that order and stopped in the reverse one.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';

import Fastify, { type FastifyInstance } from 'fastify';

import { startAdminChannel, type AdminChannel } from './admin/socket.js';
import { VerifiedKeys } from './auth/verified-keys.js';
import { FailedAuthLimit } from './api/failed-auth-limit.js';
import { buildServer } from './app.js';
import { defaultDataDir } from './data-dir.js';
import {
  resolveDeployment,
  unreachableNameNotice,
  type TrustProxy
} from './deployment-settings.js';
import { securePermissions, usePrivateUmask } from './data-dir-permissions.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import { createEventHub, type EventHub } from './events/hub.js';
import { PostgresEventHub } from './events/postgres-hub.js';
import { defaultPython } from './executor/index.js';
import { KernelGateway } from './executor/gateway.js';
import { describeStoreError } from './store/errors.js';
import {
  retentionSettings,
  startRetention,
  type Retention
} from './retention.js';
import { killOrphanKernels } from './executor/orphan-kernels.js';
import type { IsolationMode } from './executor/sandbox.js';
import { resolveIsolation, type KernelIsolation } from './runs/isolation.js';
import { kernelsDirOf } from './runs/kernel-launcher.js';
import { KernelUsers } from './runs/kernel-users.js';
import { retryCrashedRuns } from './runs/crash-retry.js';
import { instanceIdOf, predecessorOwners } from './runs/lease-owner.js';
import { RunService } from './runs/service.js';
import { startScheduler, type Scheduler } from './scheduler/index.js';
import { secretKeyFile } from './secrets/secret-box.js';
import { openWorkspaceSecrets } from './secrets/workspace-secrets.js';
import { DeliveryLoop } from './notifications/delivery-loop.js';
import { NotificationService } from './notifications/service.js';
import { resolveNotificationSettings } from './notifications/settings.js';
import { openStore } from './store/index.js';
import type { FlowRun, Store } from './store/store.js';

export const RESTART_CRASH_REASON =
  'server restarted while the run was running';
export const DEAD_OWNER_CRASH_REASON =
  'the process running it on this host is gone';

export interface CellflowServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Embedded store, admin socket and kernel folders (default: CELLFLOW_DATA_DIR or ~/.local/share/cellflow). */
  dataDir?: string;
  /** Folder whose notebooks run in their own folder (the lab's root). */
  rootDir?: string;
  /** PostgreSQL instead of the embedded store (default: DATABASE_URL). */
  databaseUrl?: string;
  maxConcurrentRuns?: number;
  /** How long a failed run's kernel is kept for a retry to continue in (RunService; 0 keeps none). */
  retryGraceMs?: number;
  /** Kernels started ahead of runs (RunService's warmKernels). */
  warmKernels?: number;
  kernelPython?: string;
  /** Run leases (RunService's leaseMs, default 15 s; `--lease`). */
  leaseMs?: number;
  /** The outputs kept per task attempt and executed-notebook cell (RunService; `--output-cap`). */
  outputCapBytes?: number;
  logger?: boolean;
  /** Browser origins CORS allows (`--cors-origin`; default CELLFLOW_CORS_ORIGINS, else the local lab's). */
  allowedOrigins?: string[];
  /**
   * Names the Host check accepts besides loopback, the --host address and the public URL's host
   * (`--allowed-host`; default CELLFLOW_ALLOWED_HOSTS).
   */
  allowedHosts?: string[];
  /** The URL users reach this server at (`--public-url`; default CELLFLOW_PUBLIC_URL). */
  publicUrl?: string;
  /** Reverse proxies whose X-Forwarded-* headers count (`--trust-proxy`; default CELLFLOW_TRUST_PROXY, else none). */
  trustProxy?: TrustProxy;
  env?: NodeJS.ProcessEnv;
  /** How local kernels are isolated (default 'auto': the sandbox wherever bubblewrap works). */
  isolation?: IsolationMode | 'auto';
  /** The secrets key file (default: CELLFLOW_SECRETS_KEY_FILE, else `<dataDir>/secrets.key`). */
  secretsKeyFile?: string;
  /** Failed authentications allowed per client address and minute before 429 (default 20). */
  failedAuthLimit?: number;
  /** Each workspace's kernels as an OS user of its own (needs root). */
  kernelUser?: boolean;
  /** Allow kernels without isolation on a non-loopback address (refused otherwise). */
  allowUnisolatedKernels?: boolean;
  /** Told what start had to say (isolation warnings, permissions fixed); default: stderr. */
  onNotice?: (message: string) => void;
  /**
   * False: API and scheduler only (`--no-executor`), runs are left to `cellflow worker`s on the same
   * PostgreSQL. Default true: this process executes runs of its pools too.
   */
  executor?: boolean;
  /** The work pools this server's executor serves (`--pool`, default `default`). */
  pools?: string[];
  /** How this process shows in the workers list (default `<host>:<pid>`). */
  workerName?: string;
  /**
   * Kernels from this Jupyter Kernel Gateway or Enterprise Gateway instead of this machine
   * (`--kernel-gateway`; default CELLFLOW_KERNEL_GATEWAY).
   */
  kernelGateway?: string;
  /** The gateway's token (`--gateway-token`; default CELLFLOW_GATEWAY_TOKEN). */
  gatewayToken?: string;
  /** Remove ended runs older than this many days (`--retention-days`; default CELLFLOW_RETENTION_DAYS). */
  retentionDays?: number;
  /** Keep the newest this many runs per flow (`--retention-runs`; default CELLFLOW_RETENTION_RUNS). */
  retentionRuns?: number;
  /** The SMTP server notification e-mail goes through (`--smtp-url`; default CELLFLOW_SMTP_URL). */
  smtpUrl?: string;
  /** Their sender (`--smtp-from`; default CELLFLOW_SMTP_FROM, else cellflow@<host name>). */
  smtpFrom?: string;
  /** Tries per notification before it is given up (`--notify-attempts`, 1..50, default 8). */
  notifyAttempts?: number;
  /** The delivery loop's timing (tests make it quick; DeliveryLoopOptions has the bounds). */
  notifyPollMs?: number;
  notifyBackoffMs?: number;
}

/** Loopback addresses: a server listening only there is reached from its own machine only. */
export function isLoopbackHost(host: string): boolean {
  return (
    host === 'localhost' ||
    host === '::1' ||
    host === '[::1]' ||
    /^127(\.\d{1,3}){3}$/.test(host)
  );
}

export interface CellflowServer {
  /** http://host:port */
  readonly address: string;
  /** `--public-url`, if one was given. */
  readonly publicUrl: string | null;
  readonly dataDir: string;
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly hub: EventHub;
  readonly runs: RunService;
  readonly scheduler: Scheduler;
  /** Removes old runs (`--retention-days`, `--retention-runs`); null when neither is set. */
  readonly retention: Retention | null;
  readonly admin: AdminChannel;
  /** How this server's kernels are isolated. */
  readonly isolation: KernelIsolation;
  /** The kernel gateway kernels start on, or null: local kernels. */
  readonly kernelGateway: string | null;
  /** Runs found Running at start (left by a previous process) and marked Crashed. */
  readonly crashedAtStart: string[];
  /** Sends the queued notifications. */
  readonly notifications: DeliveryLoop;
  close(): Promise<void>;
}

/** A worker (`cellflow worker`): claims and executes runs of its pools from the shared PostgreSQL. */
export interface CellflowWorker {
  /** http://host:port of its health endpoint (GET /health), its only port. */
  readonly address: string;
  readonly dataDir: string;
  readonly store: Store;
  readonly runs: RunService;
  readonly isolation: KernelIsolation;
  readonly kernelGateway: string | null;
  readonly crashedAtStart: string[];
  /** Claims nothing new and waits for the runs executing here to end (SIGTERM). */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export async function startCellflowServer(
  options: CellflowServerOptions = {}
): Promise<CellflowServer> {
  return (await startProcess(options, 'server')) as CellflowServer;
}

/**
 * A worker: the server's executor alone, with a health endpoint on `host:port` (default
 * 127.0.0.1:8790) and no API. It needs PostgreSQL (`databaseUrl` or DATABASE_URL), shared with the API
 * servers, and the same secrets key as they have.
 */
export async function startCellflowWorker(
  options: CellflowServerOptions = {}
): Promise<CellflowWorker> {
  const env = options.env ?? process.env;
  if (!(options.databaseUrl ?? env.DATABASE_URL)) {
    throw new Error(
      'a worker needs the PostgreSQL its API servers use: set DATABASE_URL'
    );
  }
  return (await startProcess(
    { ...options, executor: true },
    'worker'
  )) as CellflowWorker;
}

async function startProcess(
  options: CellflowServerOptions,
  role: 'server' | 'worker'
): Promise<CellflowServer | CellflowWorker> {
  const env = options.env ?? process.env;
  const notice =
    options.onNotice ??
    ((text: string) => process.stderr.write(`Cellflow: ${text}\n`));
  const dataDir = resolve(options.dataDir ?? defaultDataDir(env));
  const host = options.host ?? '127.0.0.1';
  const rootDir = options.rootDir ? resolve(options.rootDir) : undefined;
  const kernelPython = options.kernelPython ?? defaultPython();
  // Decided before anything is opened: a refusal leaves nothing behind.
  const deployment = resolveDeployment({
    host,
    env,
    allowedHosts: options.allowedHosts,
    publicUrl: options.publicUrl,
    trustProxy: options.trustProxy,
    corsOrigins: options.allowedOrigins
  });
  const keyFile = secretKeyFile({
    dataDir,
    env,
    keyFile: options.secretsKeyFile
  });
  const isolation = resolveIsolation({
    mode: options.isolation,
    python: kernelPython,
    dataDir,
    rootDir,
    // Wherever the secrets key is kept, no kernel sees it.
    hidden: [keyFile],
    env
  });
  const notifySettings = resolveNotificationSettings({
    smtpUrl: options.smtpUrl,
    smtpFrom: options.smtpFrom,
    env
  });
  const retentionConfig = retentionSettings(
    { days: options.retentionDays, runsPerFlow: options.retentionRuns },
    env
  );
  const gatewayUrl =
    options.kernelGateway ?? (env.CELLFLOW_KERNEL_GATEWAY || undefined);
  // Made now: a URL that is not one is refused before anything is opened.
  const kernelGateway = gatewayUrl
    ? new KernelGateway({
        url: gatewayUrl,
        token: options.gatewayToken ?? (env.CELLFLOW_GATEWAY_TOKEN || undefined)
      })
    : undefined;
  // With a gateway no kernel runs here: its isolation is the gateway's.
  if (
    !kernelGateway &&
    isolation.mode === 'none' &&
    !isLoopbackHost(host) &&
    !options.allowUnisolatedKernels
  ) {
    throw new Error(
      `refusing to listen on ${host} with kernels that are not isolated (${isolation.warning}); ` +
        'install bubblewrap, or pass --allow-unisolated-kernels if every key holder may read everything this server can'
    );
  }
  if (isolation.warning && !kernelGateway) {
    notice(`warning: ${isolation.warning}`);
  }
  const nameNotice = unreachableNameNotice({ host }, deployment);
  if (nameNotice) {
    notice(`warning: ${nameNotice}`);
  }
  const kernelUsers = options.kernelUser ? new KernelUsers() : undefined;
  usePrivateUmask();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const fixed = securePermissions(dataDir);
  if (fixed > 0) {
    notice(
      `made ${fixed} file(s) and folder(s) in the data dir ${dataDir} private to this user (0600 files, 0700 folders)`
    );
  }
  // The embedded store sets its own files' modes (0666, whatever the umask): made private again once
  // it is open and when it closes; the data dir's own 0700 keeps them out of reach meanwhile.
  const secureStoreFiles = () => {
    securePermissions(dataDir);
  };
  const cleanups: (() => Promise<void> | void)[] = [];
  const unwind = async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error(
          `Cellflow: stopping failed: ${error instanceof Error ? error.message : error}`
        );
      }
    }
  };

  try {
    const lock: DataDirLock = lockDataDir(dataDir);
    cleanups.push(() => lock.release());
    // Kernels and kernel folders left by a killed predecessor (the lock says it is gone).
    const orphans = killOrphanKernels(kernelsDirOf(dataDir));
    if (orphans > 0) {
      notice(`stopped ${orphans} kernel(s) a previous server left running`);
    }
    rmSync(kernelsDirOf(dataDir), { recursive: true, force: true });

    const databaseUrl = options.databaseUrl ?? (env.DATABASE_URL || undefined);
    const store = await openStore({ dataDir, databaseUrl }, env);
    cleanups.push(async () => {
      await store.close();
      secureStoreFiles();
    });
    secureStoreFiles();

    // Nothing can still be executing a run this store lists as Running: with the embedded store this
    // process is the only one. On PostgreSQL other servers may be running theirs, so only runs whose
    // lease ran out, and runs of this data dir's dead predecessors (lease-owner.ts), are ours to crash.
    const instanceId = instanceIdOf(dataDir);
    const crashed = await crashAtStart(store, instanceId);

    // On PostgreSQL, servers and workers share their events' signal through LISTEN/NOTIFY.
    let hub: EventHub;
    if (databaseUrl) {
      const shared = await PostgresEventHub.open(databaseUrl);
      cleanups.push(() => shared.close());
      hub = shared;
    } else {
      hub = createEventHub();
    }
    for (const run of crashed) {
      hub.notify(run.workspaceId);
    }
    // Claimed once the run service starts.
    await retryCrashedRuns(store, crashed, {
      notify: workspaceId => hub.notify(workspaceId)
    });

    const secrets = await openWorkspaceSecrets({
      store,
      dataDir,
      env,
      keyFile: options.secretsKeyFile
    });

    const runs = new RunService({
      store,
      hub,
      dataDir,
      rootDir,
      kernelPython,
      isolation,
      kernelUsers,
      secrets,
      maxConcurrentRuns: options.maxConcurrentRuns,
      retryGraceMs: options.retryGraceMs,
      warmKernels: options.warmKernels,
      leaseMs: options.leaseMs,
      outputCapBytes: options.outputCapBytes,
      instanceId,
      executes: options.executor !== false,
      pools: options.pools,
      workerName: options.workerName,
      kernelGateway
    });

    if (role === 'worker') {
      const health = await buildWorkerHealth(runs);
      cleanups.push(async () => {
        await Promise.all([health.close(), runs.close()]);
      });
      const address = await health.listen({ host, port: options.port ?? 8790 });
      runs.start();
      let closing: Promise<void> | null = null;
      const worker: CellflowWorker = {
        address,
        dataDir,
        store,
        runs,
        isolation,
        kernelGateway: kernelGateway?.url ?? null,
        crashedAtStart: crashed.map(r => r.id),
        drain: () => runs.drain(),
        close() {
          closing ??= unwind();
          return closing;
        }
      };
      return worker;
    }

    // A variable, not a literal: buildServer's options grow with the API (store, hub, runs, ...).
    const notificationService = new NotificationService(store, secrets, {
      ...notifySettings,
      publicUrl: deployment.publicUrl
    });
    // One for the API and the admin channel: a key revoked through `cellflow keys revoke` is refused at once.
    const verifiedKeys = new VerifiedKeys(store);
    const apiOptions = {
      store,
      hub,
      runs,
      secrets,
      notifications: notificationService,
      logger: options.logger ?? false,
      allowedOrigins: deployment.corsOrigins,
      allowedHosts: deployment.allowedHosts,
      trustProxy: deployment.trustProxy,
      publicUrl: deployment.publicUrl,
      failedAuthLimit: new FailedAuthLimit({ max: options.failedAuthLimit }),
      verifiedKeys
    };
    const app = await buildServer(apiOptions);
    // Together: a long-lived event stream may hold the HTTP close up, and must not hold up the runs'.
    cleanups.push(async () => {
      await Promise.all([app.close(), runs.close()]);
    });

    const admin = await startAdminChannel(store, dataDir, {
      secrets,
      onKeyRevoked: () => verifiedKeys.clear()
    });
    cleanups.push(() => admin.close());

    const address = await app.listen({
      host,
      port: options.port ?? 8787
    });
    runs.start();
    // After the run service: the scheduler's first pass may release due runs and wake it.
    const scheduler = await startScheduler({ store, hub, runs });
    cleanups.push(() => scheduler.stop());
    // Apart from the runs: a slow or failing destination delays only its own messages.
    const notifications = new DeliveryLoop({
      store,
      service: notificationService,
      maxAttempts: options.notifyAttempts,
      pollMs: options.notifyPollMs,
      backoffMs: options.notifyBackoffMs,
      onError: error =>
        notice(`notification delivery: ${describeStoreError(error)}`)
    });
    notifications.start();
    cleanups.push(() => notifications.stop());
    const retention = startRetention(store, retentionConfig, error =>
      notice(`retention sweep failed: ${describeStoreError(error)}`)
    );
    if (retention) {
      cleanups.push(() => retention.stop());
    }

    let closing: Promise<void> | null = null;
    return {
      address,
      publicUrl: deployment.publicUrl,
      dataDir,
      app,
      store,
      hub,
      runs,
      scheduler,
      retention,
      admin,
      isolation,
      kernelGateway: kernelGateway?.url ?? null,
      crashedAtStart: crashed.map(r => r.id),
      notifications,
      close() {
        closing ??= unwind();
        return closing;
      }
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

/** The runs a starting server marks Crashed: every Running one on PGlite; on PostgreSQL, its predecessors'. */
async function crashAtStart(
  store: Store,
  instanceId: string
): Promise<FlowRun[]> {
  if (store.kind === 'pglite') {
    return store.crashRunningRuns(RESTART_CRASH_REASON);
  }
  const { sameInstance, deadOnHost } = predecessorOwners(
    await store.listRunningLeaseOwners(),
    instanceId
  );
  return [
    ...(await store.crashRunningRuns(RESTART_CRASH_REASON, {
      leaseExpiredBefore: new Date()
    })),
    ...(await store.crashRunningRuns(RESTART_CRASH_REASON, {
      leaseOwners: sameInstance
    })),
    ...(await store.crashRunningRuns(DEAD_OWNER_CRASH_REASON, {
      leaseOwners: deadOnHost
    }))
  ];
}

/** A worker's one endpoint: GET /health, for a service manager or a load balancer's probe. */
async function buildWorkerHealth(runs: RunService): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/health', async (_request, reply) => {
    const draining = runs.isDraining;
    return reply.code(draining ? 503 : 200).send({
      status: draining ? 'draining' : 'ok',
      role: 'worker',
      pools: runs.pools,
      running: runs.running.length
    });
  });
  return app;
}
