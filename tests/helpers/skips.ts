import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

export interface AllowedSkip {
  file: string;
  /** A regular expression matched against the test's full name. */
  test: string;
  reason: string;
}

/** The part of vitest's JSON report (`--reporter=json`) read here. */
export interface VitestReport {
  testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
}

export interface Skip {
  file: string;
  test: string;
  reason?: string;
}

export function loadAllowedSkips(path: string): AllowedSkip[] {
  return (JSON.parse(readFileSync(path, 'utf8')) as { allowed: AllowedSkip[] }).allowed;
}

/** Every test of the report that neither passed nor failed, with the reason it is allowed where it is. */
export function skippedTests(report: VitestReport, allowed: readonly AllowedSkip[], root: string): Skip[] {
  return report.testResults.flatMap((file) =>
    file.assertionResults
      .filter((t) => t.status !== 'passed' && t.status !== 'failed')
      .map((t) => {
        const path = relative(root, file.name);
        const match = allowed.find((a) => a.file === path && new RegExp(a.test).test(t.fullName));
        return match ? { file: path, test: t.fullName, reason: match.reason } : { file: path, test: t.fullName };
      }),
  );
}
