import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decideCompletion, observedState, type CompletionInput } from '../../app/pipeline/completion-detector.js';
import { ignoreMatcher } from '../../app/share/ignore-patterns.js';
import { listSessionFiles, type SessionFile } from '../../app/share/session-listing.js';
import { LocalShare } from '../../app/share/local-share.js';

const file = (relativePath: string, size: number, mtimeNs: bigint, change: bigint | null = null): SessionFile => ({
  relativePath,
  absolutePath: `/s/${relativePath}`,
  size,
  mtimeNs,
  change,
});
const base = [file('data.csv', 100, 1_000n), file('session_summary.json', 10, 2_000n)];
const t0 = new Date('2024-05-01T12:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

function input(over: Partial<CompletionInput> = {}): CompletionInput {
  return {
    requiredMarkers: [],
    presentPaths: new Set(base.map((f) => f.relativePath)),
    fileCount: base.length,
    current: observedState(base),
    previous: { state: observedState(base), since: t0 },
    now: at(300),
    stableWindowSeconds: 300,
    ...over,
  };
}

describe('observedState', () => {
  it('is equal for equal listings', () => {
    expect(observedState(base)).toBe(observedState(base.map((f) => ({ ...f }))));
  });
  it('changes when the file count changes', () => {
    expect(observedState([...base, file('more.csv', 0, 1_000n)])).not.toBe(observedState(base));
  });
  it('changes when a size changes', () => {
    expect(observedState([file('data.csv', 101, 1_000n), base[1] as SessionFile])).not.toBe(observedState(base));
  });
  it('changes when an mtime changes (even an older file, newest unchanged)', () => {
    expect(observedState([file('data.csv', 100, 1_001n), base[1] as SessionFile])).not.toBe(observedState(base));
  });
  it('changes when the NFS change attribute moves with size and mtime kept (a rewrite with the mtime set back)', () => {
    const withChange = [file('data.csv', 100, 1_000n, 7n), base[1] as SessionFile];
    expect(observedState([file('data.csv', 100, 1_000n, 8n), base[1] as SessionFile])).not.toBe(observedState(withChange));
    expect(observedState(withChange.map((f) => ({ ...f })))).toBe(observedState(withChange));
  });
  it('is stable for an empty folder', () => {
    expect(observedState([])).toBe(observedState([]));
  });
});

describe('decideCompletion', () => {
  it('never completes on the first observation, even with window 0', () => {
    const d = decideCompletion(input({ previous: null, stableWindowSeconds: 0, now: t0 }));
    expect(d.complete).toBe(false);
    expect(d.reason).toMatch(/first observation/);
    expect(d.since).toEqual(t0);
  });

  it('resets the window when the file count changes', () => {
    const grown = [...base, file('x.csv', 5, 3_000n)];
    const d = decideCompletion(input({ current: observedState(grown), fileCount: grown.length, now: at(900) }));
    expect(d.complete).toBe(false);
    expect(d.since).toEqual(at(900));
  });

  it('resets the window when a size or mtime changes', () => {
    for (const changed of [
      [file('data.csv', 999, 1_000n), base[1] as SessionFile],
      [file('data.csv', 100, 5_000n), base[1] as SessionFile],
    ]) {
      const d = decideCompletion(input({ current: observedState(changed), now: at(900) }));
      expect(d.complete).toBe(false);
      expect(d.reason).toMatch(/changed/);
      expect(d.since).toEqual(at(900));
    }
  });

  it('requires every marker and lists the missing ones', () => {
    const markers = ['session_summary.json', 'done.flag', 'sub/end.txt'];
    const d = decideCompletion(input({ requiredMarkers: markers, now: at(10_000) }));
    expect(d.complete).toBe(false);
    expect(d.reason).toContain('done.flag');
    expect(d.reason).toContain('sub/end.txt');
    expect(d.reason).not.toContain('session_summary.json');
    const all = decideCompletion(input({ requiredMarkers: markers, presentPaths: new Set([...markers, 'data.csv']), now: at(10_000) }));
    expect(all.complete).toBe(true);
  });

  it('needs no markers when none are configured', () => {
    expect(decideCompletion(input({ requiredMarkers: [], presentPaths: new Set() })).complete).toBe(true);
  });

  it('is not complete before the window has elapsed', () => {
    const d = decideCompletion(input({ now: new Date(at(300).getTime() - 1) }));
    expect(d.complete).toBe(false);
    expect(d.since).toEqual(t0);
  });

  it('is complete when the window has exactly elapsed', () => {
    const d = decideCompletion(input({ now: at(300) }));
    expect(d).toEqual({ complete: true, reason: '', since: t0, recheckAfterSeconds: null });
  });

  it('says when to look again: the rest of the window once markers are present, never while they are missing', () => {
    expect(decideCompletion(input({ now: at(120) })).recheckAfterSeconds).toBe(180);
    expect(decideCompletion(input({ previous: null })).recheckAfterSeconds).toBe(300);
    expect(
      decideCompletion(input({ requiredMarkers: ['session_summary.json'], presentPaths: new Set(['data.csv']), now: at(120) })).recheckAfterSeconds,
    ).toBeNull();
  });

  it('window 0: two consecutive equal observations complete', () => {
    const first = decideCompletion(input({ previous: null, stableWindowSeconds: 0, now: t0 }));
    expect(first.complete).toBe(false);
    const second = decideCompletion(input({ previous: { state: observedState(base), since: first.since }, stableWindowSeconds: 0, now: t0 }));
    expect(second.complete).toBe(true);
  });

  it('an empty folder is never complete', () => {
    const empty = observedState([]);
    const d = decideCompletion(
      input({ fileCount: 0, presentPaths: new Set(), current: empty, previous: { state: empty, since: t0 }, stableWindowSeconds: 0, now: at(1e6) }),
    );
    expect(d.complete).toBe(false);
    expect(d.reason).toMatch(/no files/);
  });

  it('keeps the start of the window across observations', () => {
    let previous: CompletionInput['previous'] = null;
    const decisions = [0, 100, 200, 300].map((s) => {
      const d = decideCompletion(input({ previous, now: at(s) }));
      previous = { state: observedState(base), since: d.since };
      return d;
    });
    expect(decisions.map((d) => d.since)).toEqual([t0, t0, t0, t0]);
    expect(decisions.map((d) => d.complete)).toEqual([false, false, false, true]);
  });
});

describe('ignored files and stability (listing)', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('adding an ignored *.tmp file leaves the observed state unchanged; a real file changes it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'detector-'));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'data.csv'), 'a,b\n1,2\n');
    await writeFile(join(dir, 'sub', 'x.bin'), 'xyz');
    const ignored = ignoreMatcher(['*.tmp', '*.lock']);
    const state = async () => observedState((await listSessionFiles(new LocalShare(), dir, ignored, new AbortController().signal)).files);
    const before = await state();
    await writeFile(join(dir, 'upload.tmp'), 'scratch');
    await writeFile(join(dir, 'sub', 'deep.tmp'), 'scratch scratch');
    await writeFile(join(dir, 'writer.lock'), '');
    expect(await state()).toBe(before);
    await writeFile(join(dir, 'sub', 'new.csv'), '1');
    expect(await state()).not.toBe(before);
  });
});
