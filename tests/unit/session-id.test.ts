import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../app/errors.js';
import { resolveSessionId, sessionIdProblem } from '../../app/pipeline/session-id.js';
import { LocalShare } from '../../app/share/local-share.js';

describe('sessionIdProblem', () => {
  it.each(['.', '..', '', 'x'.repeat(256), 'a/b', 'a\\b', 'a b', ' a', 'a\tb', 'a\nb', 'a\u0000b', 'séance', '数据', 'a:b'])('rejects %j', (id) => {
    expect(sessionIdProblem(id)).toEqual(expect.any(String));
  });
  it.each(['S1', 'session-001', 'a.b_c-D9', '...', '.hidden', 'x'.repeat(255)])('accepts %j', (id) => {
    expect(sessionIdProblem(id)).toBeNull();
  });
});

describe('resolveSessionId', () => {
  const share = new LocalShare();
  const signal = new AbortController().signal;
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sid-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const json = (name: string, value: unknown) => writeFile(join(dir, name), JSON.stringify(value));
  const rejection = async (metadata: string[], folderName = 'folder') => {
    const err: unknown = await resolveSessionId(share, dir, folderName, metadata, signal).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AgentError);
    const e = err as AgentError;
    expect(e.retryable).toBe(false);
    return e;
  };

  it('takes session_id from the metadata file over the folder name', async () => {
    await json('metadata.json', { session_id: 'S-42', other: 1 });
    expect(await resolveSessionId(share, dir, 'folder', ['metadata.json'], signal)).toEqual({ sessionId: 'S-42', source: 'metadata.json' });
  });

  it('the first metadata file that has a session_id wins', async () => {
    await json('a.json', { operator: 'x' });
    await json('b.json', { session_id: 'from-b' });
    await json('c.json', { session_id: 'from-c' });
    expect((await resolveSessionId(share, dir, 'folder', ['missing.json', 'a.json', 'b.json', 'c.json'], signal)).sessionId).toBe('from-b');
  });

  it('falls back to the folder name when no metadata has the field or the file is missing', async () => {
    await json('metadata.json', { operator: 'x' });
    expect(await resolveSessionId(share, dir, 'session-007', ['metadata.json'], signal)).toEqual({ sessionId: 'session-007', source: 'folder name' });
    expect((await resolveSessionId(share, dir, 'session-008', ['nope.json', 'no/such/dir.json'], signal)).sessionId).toBe('session-008');
    expect((await resolveSessionId(share, dir, 'session-009', [], signal)).sessionId).toBe('session-009');
  });

  it('non-JSON metadata is BAD_METADATA', async () => {
    await writeFile(join(dir, 'metadata.json'), '{ not json');
    expect((await rejection(['metadata.json'])).code).toBe('BAD_METADATA');
  });

  it('a non-string session_id is BAD_SESSION_ID', async () => {
    await json('metadata.json', { session_id: 42 });
    expect((await rejection(['metadata.json'])).code).toBe('BAD_SESSION_ID');
  });

  it('an unsafe session_id in metadata is BAD_SESSION_ID (folder name not used)', async () => {
    await json('metadata.json', { session_id: '../escape' });
    const e = await rejection(['metadata.json'], 'good-folder');
    expect(e.code).toBe('BAD_SESSION_ID');
    expect(e.message).toContain('metadata.json');
  });

  it('an unsafe folder name is BAD_SESSION_ID', async () => {
    expect((await rejection([], 'my session')).code).toBe('BAD_SESSION_ID');
  });

  it('metadata that is a directory is BAD_METADATA', async () => {
    await mkdir(join(dir, 'metadata.json'));
    expect((await rejection(['metadata.json'])).code).toBe('BAD_METADATA');
  });

  it('metadata over 1 MiB is BAD_METADATA', async () => {
    await writeFile(join(dir, 'metadata.json'), `{"session_id":"S1","pad":"${'x'.repeat(1024 * 1024)}"}`);
    expect((await rejection(['metadata.json'])).code).toBe('BAD_METADATA');
  });
});
