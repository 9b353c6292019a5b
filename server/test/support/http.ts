/**
 * Raw HTTP helpers for tests that drive a running server as its clients do: the admin socket (tests also
 * send it malformed requests, so this is not the CLI's AdminClient) and the API with a Bearer key.
 */
import { request } from 'node:http';

export interface HttpAnswer {
  status: number;
  body: any;
}

/** A request on the admin unix socket; JSON in and out. */
export function adminRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown
): Promise<HttpAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload ? { 'content-type': 'application/json' } : {}
      },
      res => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', c => (text += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: text ? JSON.parse(text) : null
          })
        );
      }
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A request of the HTTP API at `address` with an API key; JSON in and out. */
export async function apiRequest(
  address: string,
  key: string,
  method: string,
  path: string,
  body?: unknown
): Promise<HttpAnswer> {
  const res = await fetch(`${address}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' })
    },
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/**
 * A GET (or OPTIONS) of `address` + `path` with exactly these headers, Host included: fetch() may not set
 * Host, and tests of the Host check and of proxies' X-Forwarded-* headers need to.
 */
export function rawRequest(
  address: string,
  path: string,
  headers: Record<string, string>,
  method = 'GET'
): Promise<RawAnswer> {
  const url = new URL(address);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers,
        // A fresh connection each time: the server sees each request's headers on their own.
        agent: false
      },
      res => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', c => (text += c));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            // not JSON: the text as it came
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      }
    );
    req.on('error', reject);
    req.end();
  });
}
