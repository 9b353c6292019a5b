// Sum the passed/failed counts of every suite's JSON report into one closing line.
// Knows vitest's JSON reporter, Playwright's JSON reporter and our own {"passed", "failed"} files.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
for (const file of readdirSync(dir)
  .filter(f => f.endsWith('.json'))
  .sort()) {
  const report = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  let p = 0;
  let f = 0;
  if (typeof report.numPassedTests === 'number') {
    // vitest: a suite that failed to load has no tests but counts as a failure.
    p = report.numPassedTests;
    f =
      report.numFailedTests +
      (report.numFailedTestSuites > 0 && report.numFailedTests === 0 ? 1 : 0);
  } else if (report.stats && typeof report.stats.expected === 'number') {
    // Playwright: unexpected = failed, flaky counts as failed too (we run without retries).
    p = report.stats.expected;
    f =
      report.stats.unexpected +
      report.stats.flaky +
      (report.errors?.length ? 1 : 0);
  } else {
    p = report.passed;
    f = report.failed;
  }
  console.log(
    `${file.replace(/\.json$/, '').padEnd(10)} ${p} passed, ${f} failed`
  );
  passed += p;
  failed += f;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
