// Processes for the peers benchmark: start a command with its output in a log file, wait for a line,
// measure the resident memory of a process and all its descendants (from /proc), stop it.
import { spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';

import { freePort } from '../lib.mjs';

// Where the peers' runners find it.
export { freePort };

/**
 * Start `command` with stdout as lines (for `onLine`) and stderr appended to `logFile`. Rejects
 * `exited` with the log's name when the process fails, so a broken peer says where to look.
 */
export function start(command, args, { env, cwd, logFile, onLine } = {}) {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    cwd,
    stdio: ['pipe', 'pipe', 'pipe']
  });
  child.stderr.pipe(log);
  // One reader of stdout; everyone else listens to `lines` (a second reader could pause the pipe).
  const lines = new EventEmitter();
  createInterface({ input: child.stdout }).on('line', line => {
    log.write(line + '\n');
    onLine?.(line);
    lines.emit('line', line);
  });
  const exited = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0 || signal) {
        resolve(code);
      } else {
        reject(
          new Error(
            `${command} ${args[0] ?? ''} exited with ${code}; see ${logFile}`
          )
        );
      }
    });
  });
  exited.catch(() => {});
  return { child, exited, lines };
}

/** Resolve with the first stdout line that matches, or reject when the process exits first. */
export function waitForLine(proc, pattern, timeoutMs = 120_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.lines.off('line', onLine);
      reject(new Error(`no line matching ${pattern} after ${timeoutMs} ms`));
    }, timeoutMs);
    const onLine = line => {
      const match = line.match(pattern);
      if (match) {
        clearTimeout(timer);
        proc.lines.off('line', onLine);
        resolve(match);
      }
    };
    proc.lines.on('line', onLine);
    proc.exited.then(
      code => reject(new Error(`exited (${code}) before printing ${pattern}`)),
      reject
    );
  });
}

/** Each live process's parent and resident memory (bytes), read from /proc. */
function processTable() {
  const children = new Map();
  const rss = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name, which may hold spaces: state ppid ... rss is field 24.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(fields[1]);
      rss.set(Number(entry), Number(fields[21]) * 4096);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process ended while we read: it holds no memory any more.
    }
  }
  return { children, rss };
}

/** `pid` and every process below it. */
export function descendants(pid) {
  const { children } = processTable();
  const all = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop();
    all.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return all;
}

/** Resident memory (bytes) of `pid` and every process below it. */
export function treeRss(pid) {
  const { children, rss } = processTable();
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop();
    total += rss.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

/** Sample treeRss(pid) every `everyMs` until `stop()`; resolves with the largest value seen. */
export function peakRss(pid, everyMs = 25) {
  let peak = treeRss(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRss(pid));
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, treeRss(pid));
    }
  };
}

/**
 * Ask a process to stop (SIGINT, as Ctrl-C); after `graceMs` SIGKILL it and whatever it started that is
 * still there, so no peer's helper outlives the benchmark.
 */
export async function stop(proc, graceMs = 15_000) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
    return;
  }
  const tree = descendants(proc.child.pid);
  const gone = new Promise(resolve => proc.child.once('exit', resolve));
  proc.child.kill('SIGINT');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
  for (const pid of tree.slice(1)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
