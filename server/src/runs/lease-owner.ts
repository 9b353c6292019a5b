/**
 * Lease owners a successor can recognise. Each data dir has a stable instance id (a file in it), and a
 * run service's lease owner is `instance:<id>:<host>:<pid>:<random>`. A process starting on a data dir
 * holds its lock (data-dir-lock.ts), so every Running run leased under that instance id belongs to a
 * dead predecessor, whatever its lease says; so does one leased on this host by a pid that is gone.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const INSTANCE_ID_FILE = 'instance-id';

const INSTANCE_ID = /^[A-Za-z0-9-]{8,64}$/;

/** The data dir's instance id, made (0600) on first use. */
export function instanceIdOf(dataDir: string): string {
  const path = join(dataDir, INSTANCE_ID_FILE);
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (INSTANCE_ID.test(id)) {
      return id;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error;
    }
  }
  const id = randomUUID();
  writeFileSync(path, `${id}\n`, { mode: 0o600 });
  return id;
}

export function leaseOwnerId(instanceId: string): string {
  return `instance:${instanceId}:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

export interface ParsedOwner {
  instanceId: string | null;
  host: string;
  pid: number;
}

/** `instance:<id>:<host>:<pid>:<random>`, or the older `<host>:<pid>:<random>`; null for anything else. */
export function parseLeaseOwner(owner: string): ParsedOwner | null {
  const parts = owner.split(':');
  let instanceId: string | null = null;
  if (parts.length === 5 && parts[0] === 'instance') {
    instanceId = parts[1];
    parts.splice(0, 2);
  }
  if (parts.length !== 3 || parts[0] === '' || !/^[1-9]\d*$/.test(parts[1])) {
    return null;
  }
  return { instanceId, host: parts[0], pid: Number(parts[1]) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but is someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Predecessors {
  /** Leased under this data dir's instance id by another process. */
  sameInstance: string[];
  /** Leased on this host by a process that is gone. */
  deadOnHost: string[];
}

/**
 * Which of these lease owners are dead predecessors of the process starting on the data dir of
 * `instanceId` (before its own run service claims: a restarted container may reuse a killed one's pid).
 */
export function predecessorOwners(
  owners: readonly string[],
  instanceId: string,
  self?: string,
  host = hostname()
): Predecessors {
  const found: Predecessors = { sameInstance: [], deadOnHost: [] };
  for (const owner of owners) {
    const parsed = parseLeaseOwner(owner);
    if (!parsed || owner === self) {
      continue;
    }
    if (parsed.instanceId === instanceId) {
      found.sameInstance.push(owner);
    } else if (parsed.host === host && !alive(parsed.pid)) {
      found.deadOnHost.push(owner);
    }
  }
  return found;
}
