import { describe, expect, it } from 'vitest';
import type { CompletionDecision } from '../../app/pipeline/completion-detector.js';
import { nextStep, type FactName, type FolderFacts, type Verdict } from '../../app/pipeline/next-step.js';
import type { SessionRow } from '../../app/state/session-row.js';

const now = new Date('2024-05-01T12:00:00.000Z');
const later = new Date(now.getTime() + 60_000);

function row(over: Partial<SessionRow> = {}): SessionRow {
  return {
    pk: 7,
    folderPath: '/lab/run-1',
    folderName: 'run-1',
    rootPath: '/lab',
    profile: 'p',
    sessionId: null,
    status: 'waiting_for_stable',
    manifestHash: null,
    fileCount: null,
    totalBytes: null,
    processedPath: null,
    attempts: 0,
    nextAttemptAt: null,
    lastError: null,
    lastErrorCode: null,
    observedState: null,
    observedSince: null,
    observedAt: null,
    leaseOwner: null,
    leaseToken: null,
    leaseExpiresAt: null,
    discoveredAt: now,
    updatedAt: now,
    stableAt: null,
    uploadedAt: null,
    processedAt: null,
    dismissedBy: null,
    dismissedReason: null,
    dismissedAt: null,
    ...over,
  };
}

const stable: CompletionDecision = { complete: true, reason: '', since: now, recheckAfterSeconds: null };
const facts = (over: Partial<FolderFacts>): FolderFacts => ({ now, folderPath: '/lab/run-1', row: null, rootWatched: true, moveAfterUpload: true, ...over });

/** Answers every fact nextStep asks for from `known`, recording the order it asked in. */
function decide(start: FolderFacts, known: Partial<FolderFacts>): { verdict: Verdict; asked: FactName[] } {
  const f = { ...start };
  const asked: FactName[] = [];
  for (;;) {
    const step = nextStep(f);
    if (!('need' in step)) return { verdict: step, asked };
    asked.push(step.need);
    if (!(step.need in known)) throw new Error(`asked for ${step.need}, which the test does not know`);
    Object.assign(f, { [step.need]: known[step.need] });
  }
}

const clear: Partial<FolderFacts> = {
  folderExists: true,
  completion: stable,
  preflight: { sessionId: 'S-1' },
  owner: null,
  marker: 'absent',
  moveTo: '/lab/processed/run-1',
};

describe('nextStep', () => {
  it("a complete folder with a free session_id and no _COMPLETE: upload, asking the facts in the cycle's order", () => {
    const { verdict, asked } = decide(facts({ row: row() }), clear);
    expect(verdict).toMatchObject({
      action: 'upload',
      sessionId: 'S-1',
      moveTo: '/lab/processed/run-1',
      reason: 'complete and stable: will upload on the next cycle',
    });
    expect(asked).toEqual(['folderExists', 'completion', 'preflight', 'owner', 'moveTo', 'marker']);
  });

  it('a folder not recorded yet waits for its first observation, with the window named', () => {
    const first: CompletionDecision = { complete: false, reason: 'first observation', since: now, recheckAfterSeconds: 300 };
    const { verdict, asked } = decide(facts({}), { completion: first });
    expect(verdict).toMatchObject({ action: 'wait' });
    expect(verdict.reason).toMatch(/next cycle records it, and a cycle 300 s or more after that can upload it/);
    expect(asked).toEqual(['completion']);
  });

  it('a recorded folder inside its window: stable in N s', () => {
    const waiting: CompletionDecision = { complete: false, reason: 'unchanged for 100s of 300s', since: now, recheckAfterSeconds: 199.5 };
    expect(decide(facts({ row: row() }), { ...clear, completion: waiting }).verdict.reason).toBe(
      'waiting: unchanged for 100s of 300s; stable in 200 s if nothing changes',
    );
  });

  it('a live lease whose holder may be working: skip, naming agent, pid and expiry; a gone holder is taken over', () => {
    const leased = row({ leaseOwner: 'labpc-4242-abcdef', leaseExpiresAt: later });
    expect(decide(facts({ row: leased }), { holderGone: null }).verdict).toEqual({
      action: 'skip',
      reason: `leased by agent labpc pid 4242 until ${later.toISOString()}`,
    });
    const { verdict } = decide(facts({ row: leased }), { holderGone: 'pid 4242 no longer exists on this host', ...clear });
    expect(verdict).toMatchObject({ action: 'upload', takeOver: 'pid 4242 no longer exists on this host' });
  });

  it('an expired lease is no lease', () => {
    expect(decide(facts({ row: row({ leaseOwner: 'labpc-1-abcdef', leaseExpiresAt: new Date(now.getTime() - 1) }) }), clear).asked[0]).toBe('folderExists');
  });

  it('another folder still in play with the session_id: needs attention naming it; an uploaded one: a twin, not uploaded', () => {
    const inPlay = { pk: 3, folderPath: '/lab/run-0', status: 'uploading' as const, manifestHash: null };
    const collision = decide(facts({ row: row() }), { ...clear, owner: inPlay }).verdict;
    expect(collision).toMatchObject({ action: 'needs_attention', sessionId: 'S-1' });
    expect(collision.reason).toMatch(/session_id S-1 is already recorded for folder \/lab\/run-0/);
    const twin = decide(facts({ row: row() }), { ...clear, owner: { ...inPlay, status: 'processed' } }).verdict;
    expect(twin).toMatchObject({ action: 'move', moveTo: '/lab/processed/run-1' });
    expect(twin.reason).toMatch(/^twin of folder \/lab\/run-0 .*will not upload/);
  });

  it('its own session_id is no collision', () => {
    expect(decide(facts({ row: row() }), { ...clear, owner: { pk: 7, folderPath: '/lab/run-1', status: 'failed', manifestHash: null } }).verdict.action).toBe(
      'upload',
    );
  });

  it('a _COMPLETE already in S3: not uploaded again; S3 not asked: upload', () => {
    expect(decide(facts({ row: row() }), { ...clear, marker: { key: 'p/S-1/_COMPLETE' } }).verdict).toMatchObject({
      action: 'move',
      reason: expect.stringMatching(/^p\/S-1\/_COMPLETE is already in S3/) as string,
    });
    expect(decide(facts({ row: row() }), { ...clear, marker: 'not_asked' }).verdict.action).toBe('upload');
  });

  it('a preflight problem or a vanished folder: the cycle will mark it needs_attention', () => {
    expect(decide(facts({ row: row() }), { ...clear, preflight: { problem: 'session_id from metadata.json is empty' } }).verdict).toEqual({
      action: 'needs_attention',
      reason: 'will need attention: session_id from metadata.json is empty',
    });
    expect(decide(facts({ row: row({ status: 'ready_to_upload' }) }), { folderExists: false }).verdict.reason).toMatch(
      /session folder \/lab\/run-1 no longer exists/,
    );
  });

  it('ready_to_upload, uploading and a due failure go to the preflight without waiting for a window', () => {
    for (const r of [row({ status: 'ready_to_upload' }), row({ status: 'uploading' }), row({ status: 'failed', nextAttemptAt: now })]) {
      expect(decide(facts({ row: r }), clear).asked).not.toContain('completion');
    }
  });

  it('what the row alone decides asks for nothing', () => {
    const only = (r: SessionRow, over: Partial<FolderFacts> = {}) => decide(facts({ row: r, ...over }), {});
    expect(only(row({ status: 'needs_attention', lastError: 'key too long' })).verdict).toEqual({
      action: 'none',
      reason: 'needs attention: key too long; `retry` to try again',
    });
    expect(only(row({ status: 'failed', nextAttemptAt: later, lastError: 'S3 SlowDown' })).verdict).toEqual({
      action: 'retry_later',
      reason: `failed: will retry at ${later.toISOString()}: S3 SlowDown`,
    });
    expect(only(row({ status: 'processed', processedPath: '/lab/processed/run-1' })).verdict.reason).toBe('done: moved to /lab/processed/run-1');
    expect(only(row({ status: 'dismissed', dismissedBy: 'ann@pc', dismissedReason: 'deleted' })).verdict.reason).toBe(
      'dismissed by ann@pc: deleted; never uploaded',
    );
    expect(only(row({ status: 'uploaded' }), { moveAfterUpload: false }).verdict).toEqual({
      action: 'none',
      reason: 'done: uploaded (move_after_upload is off)',
    });
    expect(only(row(), { rootWatched: false }).verdict.reason).toMatch(/root \/lab is not in the configuration/);
  });

  it('uploaded: the move, with the last failed try when there was one', () => {
    const { verdict } = decide(facts({ row: row({ status: 'uploaded', lastError: 'EACCES' }) }), { moveTo: '/lab/processed/run-1' });
    expect(verdict).toEqual({
      action: 'move',
      reason: 'uploaded: will move to /lab/processed/run-1 on the next cycle (last try: EACCES)',
      moveTo: '/lab/processed/run-1',
    });
  });
});
