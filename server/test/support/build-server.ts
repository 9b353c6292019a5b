import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * vitest globalSetup: compile the server once before any test file runs, so CLI tests spawn
 * `bin/cellflow.js` as users run it, and parallel test files never race on writing lib/.
 */
export default function setup(): void {
  const serverDir = fileURLToPath(new URL('../..', import.meta.url));
  execFileSync('npm', ['run', '--silent', 'build'], {
    cwd: serverDir,
    stdio: 'inherit'
  });
}
