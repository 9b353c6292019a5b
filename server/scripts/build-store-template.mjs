#!/usr/bin/env node
/**
 * Makes the embedded store's template (server/src/store/store-template.ts): a new PGlite cluster with
 * every migration applied, which a new data dir is unpacked from instead of running initdb. Run by the
 * server's build after tsc; does nothing when the template for this PGlite and these migrations exists.
 */
import { dumpStoreTemplate } from '../lib/server/src/store/pglite.js';
import {
  findStoreTemplate,
  saveStoreTemplate
} from '../lib/server/src/store/store-template.js';

const existing = findStoreTemplate();
if (existing) {
  process.exit(0);
}
const started = performance.now();
const file = saveStoreTemplate(await dumpStoreTemplate());
console.log(
  `store template: ${file} (${Math.round(performance.now() - started)} ms)`
);
