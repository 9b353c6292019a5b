/**
 * The settings that let a server be reached by other machines: the names it answers to (Host check),
 * its public URL, the reverse proxies it trusts, and the browser origins CORS allows. Each comes from a
 * flag (`--allowed-host`, `--public-url`, `--trust-proxy`, `--cors-origin`) or else from its environment
 * variable, is checked here once, and is refused with a message naming the setting and the bad value.
 */
import { isIP } from 'node:net';

import { DEFAULT_ALLOWED_HOSTNAMES, parseHost } from './api/auth.js';
import { DEFAULT_ALLOWED_ORIGINS } from './app.js';

export const ALLOWED_HOSTS_ENV = 'CELLFLOW_ALLOWED_HOSTS';
export const CORS_ORIGINS_ENV = 'CELLFLOW_CORS_ORIGINS';
export const PUBLIC_URL_ENV = 'CELLFLOW_PUBLIC_URL';
export const TRUST_PROXY_ENV = 'CELLFLOW_TRUST_PROXY';

/** More entries than this in one list is a mistake (a pasted file), not a deployment. */
export const MAX_LIST_ENTRIES = 100;
const MAX_URL_LENGTH = 2048;
const MAX_HOSTNAME_LENGTH = 253;

/** `--trust-proxy` alone trusts every peer; a list trusts those addresses, CIDRs or proxy-addr's names. */
export type TrustProxy = boolean | string[];

/** proxy-addr's (Fastify's) names for address ranges. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** Addresses that listen on every interface: they are no name a client could use. */
const WILDCARD_LISTEN_ADDRESSES = ['0.0.0.0', '::', '[::]', ''];

function quoted(value: string): string {
  return JSON.stringify(value.length > 300 ? `${value.slice(0, 300)}…` : value);
}

function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_HOSTNAME_LENGTH) {
    return false;
  }
  const labels = name.split('.');
  // All-numeric labels are an IPv4 address or nothing (127.0.0.300 is no name).
  if (labels.every(label => /^\d+$/.test(label))) {
    return false;
  }
  return labels.every(label =>
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label)
  );
}

/**
 * One `--allowed-host` entry: a host name (`cellflow.example.org`), an IPv4 or IPv6 address (`::1` or
 * `[::1]`), or `*.example.org` (any name under example.org, not example.org itself); each optionally
 * with `:port` to allow that port only. Returned lower-case, IPv6 in brackets, as the Host check compares.
 */
export function parseAllowedHost(
  value: string,
  setting = '--allowed-host'
): string {
  const text = value.trim().toLowerCase();
  const refuse = () =>
    new Error(
      `${setting}: ${quoted(value)} is not a host name, an IP address or *.domain (with an optional :port)`
    );
  if (isIP(text) === 6) {
    return `[${text}]`;
  }
  const { hostname, port } = parseHost(text);
  if (port !== null && (Number(port) < 1 || Number(port) > 65535)) {
    throw refuse();
  }
  const suffix = port === null ? '' : `:${port}`;
  if (hostname.startsWith('[') && hostname.endsWith(']')) {
    if (isIP(hostname.slice(1, -1)) !== 6) {
      throw refuse();
    }
    return hostname + suffix;
  }
  if (isIP(hostname) === 4) {
    return hostname + suffix;
  }
  if (hostname.startsWith('*.')) {
    const domain = hostname.slice(2);
    // `*.org` would let in every name of a top-level domain.
    if (!isDnsName(domain) || !domain.includes('.')) {
      throw refuse();
    }
    return hostname + suffix;
  }
  if (!isDnsName(hostname)) {
    throw refuse();
  }
  return hostname + suffix;
}

/**
 * `--public-url`: the address users reach this server at (behind a proxy, the proxy's), for links. An
 * http or https URL without credentials, query or fragment; a path is kept (a proxy may mount the server
 * under one). Returned without a trailing slash.
 */
export function parsePublicUrl(
  value: string,
  setting = '--public-url'
): string {
  const text = value.trim();
  const refuse = (why: string) =>
    new Error(`${setting}: ${quoted(value)} ${why}`);
  if (text.length > MAX_URL_LENGTH) {
    throw refuse(`is longer than ${MAX_URL_LENGTH} characters`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse('is not a URL (https://cellflow.example.org)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw refuse('must start with http:// or https://');
  }
  if (url.username || url.password) {
    // A URL is shown in messages and pages: a password in it would be shown too.
    throw refuse('must not contain a user name or password');
  }
  if (url.search || url.hash || text.includes('?') || text.includes('#')) {
    throw refuse('must not have a query (?...) or fragment (#...)');
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

function isCidr(text: string): boolean {
  const [address, bits, ...rest] = text.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) {
    return false;
  }
  if (bits === undefined) {
    return true;
  }
  const max = family === 4 ? 32 : 128;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= max;
}

/**
 * `--trust-proxy`: no value (or `true`) trusts the peer, whoever it is; a comma-separated list trusts
 * only those peers: addresses, CIDRs (10.0.0.0/8) or loopback, linklocal, uniquelocal.
 */
export function parseTrustProxy(
  value: string | boolean,
  setting = '--trust-proxy'
): TrustProxy {
  if (typeof value === 'boolean') {
    return value;
  }
  const text = value.trim().toLowerCase();
  if (text === 'true') {
    return true;
  }
  if (text === 'false') {
    return false;
  }
  const entries = splitList(text, setting);
  for (const entry of entries) {
    if (!PROXY_RANGE_NAMES.includes(entry) && !isCidr(entry)) {
      throw new Error(
        `${setting}: ${quoted(entry)} is not an IP address, a CIDR (10.0.0.0/8) or one of ${PROXY_RANGE_NAMES.join(', ')}`
      );
    }
  }
  return entries;
}

/**
 * `--cors-origin`: a browser origin allowed to call the API, `scheme://host[:port]` as browsers send it
 * (no path). Returned in the browser's spelling (lower-case, default port dropped).
 */
export function parseCorsOrigin(
  value: string,
  setting = '--cors-origin'
): string {
  const text = value.trim();
  const refuse = (why: string) =>
    new Error(`${setting}: ${quoted(value)} ${why}`);
  if (text === '*') {
    throw refuse(
      'is refused: list each origin (https://lab.example.org), so no other site can use a key a browser holds'
    );
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse('is not an origin (https://lab.example.org:8888)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw refuse('must start with http:// or https://');
  }
  if (!/^https?:\/\/[^/?#@]+\/?$/i.test(text)) {
    throw refuse(
      'is not an origin: only scheme://host[:port], without a path, query or user'
    );
  }
  return url.origin;
}

/** A comma-separated list: blanks between commas are skipped, too many entries refused. */
export function splitList(text: string, setting: string): string[] {
  const entries = text
    .split(',')
    .map(entry => entry.trim())
    .filter(entry => entry !== '');
  if (entries.length > MAX_LIST_ENTRIES) {
    throw new Error(
      `${setting}: ${entries.length} entries; at most ${MAX_LIST_ENTRIES}`
    );
  }
  return entries;
}

export interface DeploymentInput {
  /** The address the server listens on (`--host`). */
  host: string;
  /** `--allowed-host` values (already parsed), or undefined to read CELLFLOW_ALLOWED_HOSTS. */
  allowedHosts?: string[];
  publicUrl?: string;
  trustProxy?: TrustProxy;
  /** `--cors-origin` values (already parsed), or undefined to read CELLFLOW_CORS_ORIGINS. */
  corsOrigins?: string[];
  env: NodeJS.ProcessEnv;
}

export interface DeploymentSettings {
  /** Every Host the server answers: loopback, the listen address, the public URL's host, the allowed ones. */
  allowedHosts: string[];
  publicUrl: string | null;
  trustProxy: TrustProxy;
  corsOrigins: string[];
}

function fromEnv<T>(
  env: NodeJS.ProcessEnv,
  name: string,
  parse: (value: string, setting: string) => T
): T[] | undefined {
  const text = env[name];
  if (text === undefined || text.trim() === '') {
    return undefined;
  }
  return splitList(text, name).map(entry => parse(entry, name));
}

/**
 * The settings a server starts with: each flag, else its environment variable, else the default (the
 * loopback names, no public URL, no proxy trusted, the local lab's origins). Throws on a bad value.
 */
export function resolveDeployment(input: DeploymentInput): DeploymentSettings {
  const { env } = input;
  const extraHosts =
    input.allowedHosts ??
    fromEnv(env, ALLOWED_HOSTS_ENV, parseAllowedHost) ??
    [];
  const envUrl = env[PUBLIC_URL_ENV]?.trim();
  const publicUrl =
    input.publicUrl ?? (envUrl ? parsePublicUrl(envUrl, PUBLIC_URL_ENV) : null);
  const envTrust = env[TRUST_PROXY_ENV]?.trim();
  const trustProxy =
    input.trustProxy ??
    (envTrust ? parseTrustProxy(envTrust, TRUST_PROXY_ENV) : false);
  const corsOrigins =
    input.corsOrigins ??
    fromEnv(env, CORS_ORIGINS_ENV, parseCorsOrigin) ??
    DEFAULT_ALLOWED_ORIGINS;

  const hosts = [...DEFAULT_ALLOWED_HOSTNAMES];
  // A server told to listen on one address can surely be reached by it.
  if (!WILDCARD_LISTEN_ADDRESSES.includes(input.host.trim())) {
    try {
      hosts.push(parseAllowedHost(input.host, '--host'));
    } catch {
      // Not a name a Host header could carry; listening on it fails on its own.
    }
  }
  if (publicUrl) {
    hosts.push(parseHost(new URL(publicUrl).host).hostname);
  }
  hosts.push(...extraHosts);
  return {
    allowedHosts: [...new Set(hosts)],
    publicUrl,
    trustProxy,
    corsOrigins
  };
}

/**
 * What start says when the server listens on every interface but answers to no name other machines
 * could use: `--host 0.0.0.0` alone looks like "reachable from anywhere" and is not.
 */
export function unreachableNameNotice(
  input: Pick<DeploymentInput, 'host'>,
  settings: DeploymentSettings
): string | null {
  const onlyLoopback =
    settings.allowedHosts.length === DEFAULT_ALLOWED_HOSTNAMES.length;
  if (!WILDCARD_LISTEN_ADDRESSES.includes(input.host.trim()) || !onlyLoopback) {
    return null;
  }
  return (
    `listening on ${input.host || 'every address'}, but only loopback names are answered (the Host check ` +
    'against DNS rebinding): give the names clients use with --allowed-host NAME or --public-url URL'
  );
}
