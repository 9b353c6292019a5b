import { readFileSync } from 'node:fs';

/** The server package's version, read once from its package.json (lib/server/src → ../../../package.json). */
export const VERSION: string = (() => {
  for (const rel of ['../../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(
        readFileSync(new URL(rel, import.meta.url), 'utf8')
      );
      if (pkg.name === 'cellflow') {
        return pkg.version as string;
      }
    } catch {
      // try the next candidate: the layout differs between lib/ and the TypeScript sources under test
    }
  }
  return '0.0.0';
})();
