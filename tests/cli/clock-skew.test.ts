import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { logLines, runCli } from './harness.js';
import { cliSuite } from './world.js';

const t = cliSuite('skew');
// libfaketime (Debian's faketime package) shifts the child's wall clock, as a lab PC without NTP has.
const faketime = ['x86_64-linux-gnu', 'aarch64-linux-gnu'].map((arch) => `/usr/lib/${arch}/faketime/libfaketime.so.1`).find((p) => existsSync(p));

describe.skipIf(!faketime)('a host clock off from the state database', { timeout: 60_000 }, () => {
  it('scan-once warns with the skew when this host is 5 minutes ahead, and says nothing when it is not', async (ctx) => {
    // The embedded database runs inside the agent, on the agent's (shifted) clock.
    if (!t.world.dbUrl) ctx.skip();
    const shifted = t.world.env({ LD_PRELOAD: faketime, FAKETIME: '+300', DONT_FAKE_MONOTONIC: '1' });
    const skewed = await runCli(['scan-once', '--config', t.cfg.path], shifted);
    expect(skewed.code, skewed.err + skewed.out).toBe(0);
    const warning = logLines(skewed.out).find((l) => l.event === 'clock_skew');
    expect(warning?.level).toBe('warn');
    expect(Math.abs((warning?.skew_seconds as number) - 300)).toBeLessThan(5);
    expect(warning?.msg).toMatch(/300 s ahead of the state database/);

    const doctor = await runCli(['doctor', '--config', t.cfg.path], shifted);
    expect(doctor.out).toMatch(/FAIL {2}clock skew against the state database: this host is 30\d\.\d s ahead/);

    const normal = await runCli(['scan-once', '--config', t.cfg.path], t.world.env());
    expect(normal.code, normal.err + normal.out).toBe(0);
    expect(logLines(normal.out).some((l) => l.event === 'clock_skew')).toBe(false);
  });
});
