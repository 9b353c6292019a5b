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

/**
 * A free port, found by binding port 0 and closing it. Another process could take it before the
 * kernel binds: the kernel then fails to start and startKernel reports its exit.
 */
function freePort(host: string): Promise<number> {
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
  ip = '127.0.0.1'
): Promise<ConnectionInfo> {
  const ports: number[] = [];
  while (ports.length < 5) {
    const port = await freePort(ip);
    // Two successive binds may return the same port once closed; keep them distinct.
    if (!ports.includes(port)) {
      ports.push(port);
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

export function endpoint(info: ConnectionInfo, port: number): string {
  return `${info.transport}://${info.ip}:${port}`;
}
