/**
 * The embedded PostgreSQL's settings, given at every start (new, existing and in-memory stores alike)
 * on top of PGlite's own start parameters.
 *
 * shared_buffers: PostgreSQL's default of 128 MB sits in PGlite's WebAssembly memory, which is the
 * server's memory (issue 16: idle memory, server and store, under 150 MB). With 16 MB the store's
 * thread holds ~210 MB idle instead of ~375 MB (measured with a new data dir). Reads that miss the
 * buffers go to the data dir's files, which the operating system caches as it does for any
 * PostgreSQL, and the store of one Cellflow server is small beside its history (bench/load.mjs and
 * bench/history.mjs measure it).
 */
import { readFileSync } from 'node:fs';

import { PGlite, type PGliteOptions } from '@electric-sql/pglite';

export const PGLITE_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '16MB'
};

/** PGlite's start parameters with PGLITE_SETTINGS (`-c name=value` each). */
export function pgliteStartParams(): string[] {
  return [
    ...PGlite.defaultStartParams,
    ...Object.entries(PGLITE_SETTINGS).flatMap(([name, value]) => [
      '-c',
      `${name}=${value}`
    ])
  ];
}

/**
 * PGlite's options for the store: in `dataDir`, else in memory, from the store template's file
 * (store-template.ts) when given, else by initdb. One place for the store's thread and the in-thread
 * baseline of the load benchmark.
 */
export function pgliteOptions(
  dataDir: string | undefined,
  template: string | undefined
): PGliteOptions {
  return {
    startParams: pgliteStartParams(),
    ...(dataDir
      ? { dataDir }
      : template
        ? { loadDataDir: new Blob([readFileSync(template)]) }
        : {})
  };
}
