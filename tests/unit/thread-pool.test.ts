import { describe, expect, it } from 'vitest';
import { threadPoolSize } from '../../app/cli/thread-pool.cjs';

const files: Record<string, string> = {
  '/c/twelve.yaml': 'upload: {s3_bucket: b, concurrency: 12, parallel_sessions: 1}\n',
  '/c/two.yaml': 'upload: {concurrency: 2, parallel_sessions: 1}\n',
  '/c/three-by-five.yaml': 'upload: {concurrency: 3, parallel_sessions: 5}\n',
  '/c/six-sessions.yaml': 'upload: {parallel_sessions: 6}\n',
  '/c/bad-sessions.yaml': 'upload: {concurrency: 3, parallel_sessions: 0}\n',
  '/c/none.yaml': 'upload: {s3_bucket: b}\n',
  '/c/bad-value.yaml': 'upload: {concurrency: "many"}\n',
  '/c/too-many.yaml': 'upload: {concurrency: 1000}\n',
  '/c/broken.yaml': 'upload: [\n',
};
const read = (path: string): string => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return text;
};

describe('threadPoolSize', () => {
  it('follows upload.concurrency from --config, -c and --config=', () => {
    expect(threadPoolSize(['scan-once', '--config', '/c/twelve.yaml'], {}, read)).toBe(12);
    expect(threadPoolSize(['run', '-c', '/c/twelve.yaml'], {}, read)).toBe(12);
    expect(threadPoolSize(['run', '--config=/c/twelve.yaml'], {}, read)).toBe(12);
  });

  it('gives every session it uploads at once its own threads, 64 at most', () => {
    expect(threadPoolSize(['run', '--config', '/c/three-by-five.yaml'], {}, read)).toBe(15);
    expect(threadPoolSize(['run', '--config', '/c/six-sessions.yaml'], {}, read)).toBe(64);
    expect(threadPoolSize(['run', '--config', '/c/bad-sessions.yaml'], {}, read)).toBe(6);
  });

  it('never goes below libuv’s own 4', () => {
    expect(threadPoolSize(['run', '--config', '/c/two.yaml'], {}, read)).toBe(4);
  });

  it('uses the configuration’s defaults (64 requests × 2 sessions, so the 64-thread cap) when the file has no usable value or cannot be read', () => {
    for (const path of ['/c/none.yaml', '/c/bad-value.yaml', '/c/too-many.yaml', '/c/broken.yaml', '/c/missing.yaml']) {
      expect(threadPoolSize(['run', '--config', path], {}, read)).toBe(64);
    }
    expect(threadPoolSize(['status'], {}, read)).toBe(64);
  });

  it('leaves an operator’s UV_THREADPOOL_SIZE alone', () => {
    expect(threadPoolSize(['run', '--config', '/c/twelve.yaml'], { UV_THREADPOOL_SIZE: '2' }, read)).toBeNull();
  });
});
