// Sum the passed/failed counts of every suite's report into one closing line.
// Knows vitest's JSON reporter, Playwright's JSON reporter, our own {"passed", "failed"} files, and
// JUnit XML (pytest's --junitxml).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// JUnit XML: every <testsuite> carries tests, failures, errors and skipped counts. Skipped tests are
// neither passed nor failed; errors (collection, fixtures) are failures; a report with no test fails.
function junitCounts(xml) {
  let tests = 0;
  let bad = 0;
  let skipped = 0;
  let suites = 0;
  for (const match of xml.matchAll(/<testsuite\b([^>]*)>/g)) {
    const attrs = Object.fromEntries(
      [...match[1].matchAll(/([\w:-]+)="([^"]*)"/g)].map(([, k, v]) => [k, v])
    );
    const count = name => Number.parseInt(attrs[name] ?? '0', 10) || 0;
    suites += 1;
    tests += count('tests');
    bad += count('failures') + count('errors');
    skipped += count('skipped');
  }
  const p = Math.max(tests - bad - skipped, 0);
  return { p, f: bad + (suites === 0 || tests === 0 ? 1 : 0) };
}

const dir = process.argv[2];
let passed = 0;
let failed = 0;
for (const file of readdirSync(dir)
  .filter(f => f.endsWith('.json') || f.endsWith('.xml'))
  .sort()) {
  const text = readFileSync(join(dir, file), 'utf8');
  let p = 0;
  let f = 0;
  if (file.endsWith('.xml')) {
    ({ p, f } = junitCounts(text));
  } else {
    const report = JSON.parse(text);
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
  }
  console.log(
    `${file.replace(/\.(json|xml)$/, '').padEnd(10)} ${p} passed, ${f} failed`
  );
  passed += p;
  failed += f;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
