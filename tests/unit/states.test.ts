import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canTransition, SESSION_STATES, type SessionStatus } from '../../app/state/states.js';

describe('canTransition', () => {
  it('processed is terminal', () => {
    for (const to of SESSION_STATES) expect(canTransition('processed', to)).toBe(false);
  });

  it('needs_attention only goes back to waiting_for_stable or is dismissed', () => {
    expect(SESSION_STATES.filter((to) => canTransition('needs_attention', to))).toEqual(['waiting_for_stable', 'dismissed']);
  });

  it('dismissed is terminal', () => {
    for (const to of SESSION_STATES) expect(canTransition('dismissed', to)).toBe(false);
  });

  it('uploaded goes to processed, uploaded or needs_attention only', () => {
    expect(SESSION_STATES.filter((to) => canTransition('uploaded', to)).sort()).toEqual(['needs_attention', 'processed', 'uploaded']);
  });

  const allowed: [SessionStatus, SessionStatus][] = [
    ['waiting_for_stable', 'ready_to_upload'],
    ['ready_to_upload', 'uploading'],
    ['uploading', 'uploaded'],
    ['uploaded', 'processed'],
    ['uploading', 'failed'],
    ['failed', 'uploading'],
    ['failed', 'needs_attention'],
    ['waiting_for_stable', 'needs_attention'],
  ];
  it.each(allowed)('%s → %s is allowed', (from, to) => expect(canTransition(from, to)).toBe(true));

  const forbidden: [SessionStatus, SessionStatus][] = [
    ['waiting_for_stable', 'uploaded'],
    ['waiting_for_stable', 'processed'],
    ['uploading', 'processed'],
    ['uploaded', 'uploading'],
    ['uploaded', 'waiting_for_stable'],
    ['needs_attention', 'uploading'],
    ['needs_attention', 'processed'],
    ['processed', 'waiting_for_stable'],
  ];
  it.each(forbidden)('%s → %s is forbidden', (from, to) => expect(canTransition(from, to)).toBe(false));
});

describe('SESSION_STATES', () => {
  it('matches the CHECK list on uploader_sessions.status in the migrated schema (schema.sql)', () => {
    const sql = readFileSync(new URL('../../app/state/schema.sql', import.meta.url), 'utf8');
    const check = /CONSTRAINT uploader_sessions_status_check CHECK \(\(status = ANY \(ARRAY\[([^\]]*)\]/.exec(sql);
    expect(check).not.toBeNull();
    const inSql = [...(check?.[1] ?? '').matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    expect(new Set(inSql)).toEqual(new Set(SESSION_STATES));
    expect(inSql).toHaveLength(SESSION_STATES.length);
  });
});
