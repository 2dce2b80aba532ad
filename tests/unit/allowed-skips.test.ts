import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadAllowedSkips, skippedTests, type VitestReport } from '../helpers/skips.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('allowed test skips', () => {
  it('each entry names an existing test file, a valid pattern and its reason', () => {
    const allowed = loadAllowedSkips(join(ROOT, 'tests/allowed-skips.json'));
    for (const a of allowed) {
      expect(existsSync(join(ROOT, a.file)), a.file).toBe(true);
      expect(() => new RegExp(a.test), a.test).not.toThrow();
      expect(a.reason.length, `${a.file}: reason`).toBeGreaterThan(10);
    }
  });

  it('a skip is allowed only in the file and for the test the list names; passed and failed tests are no skips', () => {
    const report: VitestReport = {
      testResults: [
        {
          name: join(ROOT, 'tests/a.test.ts'),
          assertionResults: [
            { fullName: 'suite needs a tool', status: 'skipped' },
            { fullName: 'suite runs', status: 'passed' },
            { fullName: 'suite breaks', status: 'failed' },
          ],
        },
        {
          name: join(ROOT, 'tests/b.test.ts'),
          assertionResults: [
            { fullName: 'suite needs a tool', status: 'pending' },
            { fullName: 'later', status: 'todo' },
          ],
        },
      ],
    };
    const skips = skippedTests(report, [{ file: 'tests/a.test.ts', test: 'needs a tool$', reason: 'the tool is absent' }], ROOT);
    expect(skips).toEqual([
      { file: 'tests/a.test.ts', test: 'suite needs a tool', reason: 'the tool is absent' },
      { file: 'tests/b.test.ts', test: 'suite needs a tool' },
      { file: 'tests/b.test.ts', test: 'later' },
    ]);
  });
});
