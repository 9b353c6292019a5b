/**
 * Ids as people type them: the panel and the CLI's tables show the first 8 characters of a run's or a
 * schedule's id, so every command that takes an id also takes a unique prefix of one, as git takes a
 * short commit hash.
 */
import { CliError, type ApiClient } from './client.js';

/** Lower-case hex digits and dashes, the characters of the server's UUID ids. */
const ID_PREFIX = /^[0-9a-f-]{1,36}$/;

/** The one item whose id starts with `prefix`; a clear error when none or several do. */
export function pickByIdPrefix<T extends { id: string }>(
  items: readonly T[],
  prefix: string,
  what: string
): T {
  const wanted = checkedPrefix(prefix, what);
  const exact = items.find(item => item.id === wanted);
  if (exact) {
    return exact;
  }
  return onlyMatch(
    items.filter(item => item.id.startsWith(wanted)),
    wanted,
    what
  );
}

/** The full id of the workspace's run whose id is or starts with `prefix`, asked of the server. */
export async function resolveRunId(
  client: ApiClient,
  prefix: string
): Promise<string> {
  const wanted = checkedPrefix(prefix, 'run');
  // Two are enough to tell "unique" from "ambiguous"; the server filters, so this is one small query.
  const { runs } = await client.listRuns({ idPrefix: wanted, limit: 2 });
  const exact = runs.find(run => run.id === wanted);
  return exact ? exact.id : onlyMatch(runs, wanted, 'run').id;
}

function checkedPrefix(prefix: string, what: string): string {
  const wanted = prefix.trim().toLowerCase();
  if (!ID_PREFIX.test(wanted)) {
    throw new CliError(
      `"${prefix}" is not a ${what} id: give the id, or its first characters, as "cellflow ${what}s" shows it (hex digits and dashes)`
    );
  }
  return wanted;
}

function onlyMatch<T extends { id: string }>(
  matches: readonly T[],
  prefix: string,
  what: string
): T {
  if (matches.length === 0) {
    throw new CliError(
      `no ${what} of this workspace has an id starting with "${prefix}"; "cellflow ${what}s" lists them`
    );
  }
  if (matches.length > 1) {
    const shown = matches
      .slice(0, 2)
      .map(item => item.id)
      .join(', ');
    throw new CliError(
      `"${prefix}" is the start of more than one ${what} id (${shown}${matches.length > 2 ? ', …' : ''}); give more characters`
    );
  }
  return matches[0];
}
