// CI's check that every skipped test is one tests/allowed-skips.json expects:
// `tsx scripts/check-skips.ts REPORT.json` exits 1 on any other skip.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadAllowedSkips, skippedTests, type VitestReport } from '../tests/helpers/skips.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const [reportPath] = process.argv.slice(2);
if (!reportPath) {
  console.error('usage: tsx scripts/check-skips.ts VITEST_JSON_REPORT');
  process.exit(2);
}
const report = JSON.parse(readFileSync(reportPath, 'utf8')) as VitestReport;
const skips = skippedTests(report, loadAllowedSkips(`${root}tests/allowed-skips.json`), root);
for (const s of skips) console.log(s.reason ? `skipped (allowed: ${s.reason}): ${s.file} > ${s.test}` : `UNEXPECTED SKIP: ${s.file} > ${s.test}`);
const unexpected = skips.filter((s) => !s.reason);
if (unexpected.length > 0) {
  console.error(`${unexpected.length} test(s) skipped that tests/allowed-skips.json does not allow: make them run here, or add them there with the reason`);
  process.exit(1);
}
