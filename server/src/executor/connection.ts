/**
 * The kernel's connection file: five loopback ports picked by the OS, a random HMAC key.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

export interface ConnectionInfo {
  transport: 'tcp';
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: 'hmac-sha256';
  kernel_name: string;
}

/** Picks one free port on `host` (the default binds port 0 and closes it: see freePort). */
export type PortPicker = (host: string) => Promise<number>;

/**
 * Ports handed out to a connection info whose kernel has not bound them yet: this process hands none
 * of them out again meanwhile. Binding port 0 only avoids ports bound now, and a probe is closed at
 * once: two kernels started at the same moment (a run's and the warm one started ahead for the next
 * run) could otherwise be given the same port, and the second to bind it fails (Address already in
 * use). Released once the kernel is ready or gone (releasePorts), else after HANDED_OUT_MS.
 */
const handedOut = new Map<number, number>();
const HANDED_OUT_MS = 120_000;

function isHandedOut(port: number, now: number): boolean {
  const since = handedOut.get(port);
  if (since === undefined) {
    return false;
  }
  if (now - since > HANDED_OUT_MS) {
    handedOut.delete(port);
    return false;
  }
  return true;
}

/**
 * A free port, found by binding port 0 and closing it. Another process could take it before the
 * kernel binds: the kernel then fails to start and startKernel tries again on new ports.
 */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function makeConnectionInfo(
  ip = '127.0.0.1',
  pickPort: PortPicker = freePort
): Promise<ConnectionInfo> {
  const ports: number[] = [];
  let picks = 0;
  while (ports.length < 5) {
    const port = await pickPort(ip);
    if (++picks > 1000) {
      throw new Error(`Could not find 5 free ports on ${ip}`);
    }
    // Two successive binds may return the same port once closed; keep them distinct, and apart from
    // those of kernels still starting.
    if (!ports.includes(port) && !isHandedOut(port, Date.now())) {
      ports.push(port);
      handedOut.set(port, Date.now());
    }
  }
  const [shell, iopub, stdin, control, hb] = ports;
  return {
    transport: 'tcp',
    ip,
    shell_port: shell,
    iopub_port: iopub,
    stdin_port: stdin,
    control_port: control,
    hb_port: hb,
    key: randomBytes(32).toString('hex'),
    signature_scheme: 'hmac-sha256',
    kernel_name: 'python3'
  };
}

/** The connection's ports may be handed out again: its kernel bound them, or will never. */
export function releasePorts(info: ConnectionInfo): void {
  for (const port of portsOf(info)) {
    handedOut.delete(port);
  }
}

export function portsOf(info: ConnectionInfo): number[] {
  return [
    info.shell_port,
    info.iopub_port,
    info.stdin_port,
    info.control_port,
    info.hb_port
  ];
}

export function endpoint(info: ConnectionInfo, port: number): string {
  return `${info.transport}://${info.ip}:${port}`;
}
