/**
 * The rule for a workspace secret's name, one for the server (which enforces it) and the panel (which
 * says so as the name is typed): an environment variable name the kernel does not need for itself.
 */
export const SECRET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Names the kernel's environment needs for itself (compared without regard to case). */
export const RESERVED_SECRET_NAMES: readonly string[] = [
  'PATH',
  'HOME',
  'TMPDIR',
  'TMP',
  'TEMP',
  'PWD',
  'SHELL',
  'USER',
  'LOGNAME',
  'LANG',
  'TZ',
  'IPYTHONDIR'
];
export const RESERVED_SECRET_PREFIXES: readonly string[] = [
  'LC_',
  'CELLFLOW_',
  'JPY_',
  'LD_',
  'PYTHON',
  'BASH_FUNC'
];

/** Why `name` cannot name a secret, or null when it can. */
export function checkSecretName(name: unknown): string | null {
  if (typeof name !== 'string' || !SECRET_NAME_PATTERN.test(name)) {
    return (
      'A secret name is an environment variable name: a letter or _, then letters, digits or _ ' +
      '(at most 128 characters)'
    );
  }
  const upper = name.toUpperCase();
  if (RESERVED_SECRET_NAMES.includes(upper)) {
    return `${name} is reserved: the kernel's environment needs it`;
  }
  const prefix = RESERVED_SECRET_PREFIXES.find(p => upper.startsWith(p));
  if (prefix) {
    return `${name} is reserved: names starting ${prefix} are left to Cellflow, Jupyter and the system`;
  }
  return null;
}
