import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { AgentError, classifyError, redactSecrets } from '../../app/errors.js';

const fsError = (code: string) => Object.assign(new Error(`${code}: operation failed, read '/mnt/lab1/x'`), { code, syscall: 'read' });

describe('classifyError', () => {
  it.each([
    [{ name: 'SlowDown', message: 'slow down', $metadata: { httpStatusCode: 503 } }, 's3', true],
    [{ name: 'InternalError', message: 'oops', $metadata: { httpStatusCode: 500 } }, 's3', true],
    // Throttling some services answer with a 400: retryable by name, as the SDK's own retries treat them.
    [{ name: 'ThrottledException', message: 'throttled', $metadata: { httpStatusCode: 400 } }, 's3', true],
    [{ name: 'RequestLimitExceeded', message: 'limit', $metadata: { httpStatusCode: 400 } }, 's3', true],
    [{ name: 'BandwidthLimitExceeded', message: 'bandwidth', $metadata: { httpStatusCode: 400 } }, 's3', true],
    [{ name: 'InvalidArgument', message: 'bad', $metadata: { httpStatusCode: 400 } }, 's3', false],
    // The agent's credentials or permissions: uploads pause; no session is blamed.
    [{ name: 'AccessDenied', message: 'denied', $metadata: { httpStatusCode: 403 } }, 's3_access', true],
    [{ name: 'InvalidAccessKeyId', message: 'unknown key', $metadata: { httpStatusCode: 403 } }, 's3_access', true],
    [{ name: 'ExpiredToken', message: 'expired', $metadata: { httpStatusCode: 400 } }, 's3_access', true],
    [{ name: 'Unknown', message: 'UnknownError', $metadata: { httpStatusCode: 403 } }, 's3_access', true],
    [{ name: 'NoSuchBucket', message: 'no bucket', $metadata: { httpStatusCode: 404 } }, 's3', false],
    [{ code: '57P01', severity: 'FATAL', message: 'terminating connection due to administrator command' }, 'db', true],
    [{ code: '40001', severity: 'ERROR', message: 'could not serialize access' }, 'db', true],
    [{ code: '23505', severity: 'ERROR', message: 'duplicate key value' }, 'db', false],
    [fsError('EIO'), 'fs', true],
    [fsError('ESTALE'), 'fs', true],
    [fsError('EACCES'), 'fs', false],
    [fsError('ELOOP'), 'fs', false],
  ] as const)('%j → %s retryable=%s', (err, kind, retryable) => {
    const c = classifyError(err);
    expect(c).toBeInstanceOf(AgentError);
    expect(c.kind).toBe(kind);
    expect(c.retryable).toBe(retryable);
  });

  it('a real ENOENT from fs is a retryable fs error', async () => {
    const err: unknown = await readFile('/definitely/not/here').catch((e: unknown) => e);
    const c = classifyError(err);
    expect(c).toMatchObject({ kind: 'fs', retryable: true, code: 'FS_ENOENT' });
  });

  // S3 answers RequestTimeout with HTTP 400, but it is transient (the AWS SDK lists it in
  // TRANSIENT_ERROR_CODES): not retryable would send the session to needs_attention.
  it('S3 RequestTimeout (HTTP 400) is retryable', () => {
    const c = classifyError({
      name: 'RequestTimeout',
      message: 'Your socket connection to the server was not read from or written to within the timeout period.',
      $metadata: { httpStatusCode: 400 },
    });
    expect(c.retryable).toBe(true);
  });

  // What the SDK and the lean PUT throw when no connection can be made (retries attach $metadata).
  it("S3 that cannot be reached at all is s3_unreachable; a reset or a request timeout mid-body stays the session's", () => {
    const sdk = (fields: object) => Object.assign(new Error((fields as { message?: string }).message ?? 'x'), { $metadata: { attempts: 4 } }, fields);
    expect(classifyError(sdk({ message: 'connect ECONNREFUSED 10.0.0.5:443', code: 'ECONNREFUSED', syscall: 'connect' }))).toMatchObject({
      code: 'S3_ECONNREFUSED',
      kind: 's3_unreachable',
      retryable: true,
    });
    expect(classifyError(sdk({ message: 'getaddrinfo ENOTFOUND s3.lab.internal', code: 'ENOTFOUND' }))).toMatchObject({
      code: 'S3_ENOTFOUND',
      kind: 's3_unreachable',
    });
    expect(classifyError(sdk({ message: 'connect EHOSTUNREACH 100.64.0.7:443', code: 'EHOSTUNREACH' }))).toMatchObject({
      code: 'S3_EHOSTUNREACH',
      kind: 's3_unreachable',
    });
    expect(classifyError(sdk({ message: 'connect ETIMEDOUT 100.64.0.7:443', code: 'ETIMEDOUT', syscall: 'connect' }))).toMatchObject({
      code: 'S3_CONNECT_TIMEOUT',
      kind: 's3_unreachable',
    });
    const sdkConnectTimeout =
      '@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 10000 ms.';
    expect(classifyError(sdk({ message: sdkConnectTimeout, name: 'TimeoutError' }))).toMatchObject({ code: 'S3_CONNECT_TIMEOUT', kind: 's3_unreachable' });
    expect(classifyError(sdk({ message: 'connecting to S3 timed out after 10000 ms', name: 'TimeoutError', code: 'ETIMEDOUT' }))).toMatchObject({
      code: 'S3_CONNECT_TIMEOUT',
      kind: 's3_unreachable',
    });

    expect(classifyError(sdk({ message: 'S3 request got no answer for 120000 ms', name: 'TimeoutError', code: 'ETIMEDOUT' }))).toMatchObject({
      kind: 's3',
      retryable: true,
    });
    expect(
      classifyError(
        sdk({
          message: '@smithy/node-http-handler - [ERROR] a request has exceeded the configured 120000 ms requestTimeout.',
          name: 'TimeoutError',
          code: 'ETIMEDOUT',
        }),
      ),
    ).toMatchObject({ kind: 's3', retryable: true });
    expect(classifyError(sdk({ message: 'socket hang up', code: 'ECONNRESET' }))).toMatchObject({ kind: 's3', retryable: true });
    // An answer from S3 is never "unreachable", whatever its text says.
    expect(
      classifyError({ name: 'ServiceUnavailable', message: 'connect ECONNREFUSED upstream', code: 'ECONNREFUSED', $metadata: { httpStatusCode: 503 } }),
    ).toMatchObject({ kind: 's3' });
  });

  it('keeps the S3 and PG codes', () => {
    expect(classifyError({ name: 'SlowDown', $metadata: { httpStatusCode: 503 } }).code).toBe('S3_SlowDown');
    expect(classifyError({ code: '23505', severity: 'ERROR', message: 'dup' }).code).toBe('PG_23505');
  });

  it('AbortError is recognised', () => {
    const c = classifyError(new DOMException('The operation was aborted', 'AbortError'));
    expect(c.code).toBe('ABORTED');
  });

  it('a plain Error is internal', () => {
    const c = classifyError(new Error('boom'));
    expect(c.kind).toBe('internal');
    expect(c.message).toBe('boom');
  });

  it('returns an AgentError unchanged', () => {
    const e = new AgentError('X', 'x', 'session', false);
    expect(classifyError(e)).toBe(e);
  });
});

describe('redactSecrets', () => {
  it('masks the password in a connection URL', () => {
    const out = redactSecrets('connect failed: postgres://user:pa55word@db.example:5432/lab');
    expect(out).not.toContain('pa55word');
    expect(out).toContain('postgres://user:***@db.example:5432/lab');
  });

  it('masks password=… settings', () => {
    const out = redactSecrets('host=db user=u password=xyz dbname=lab');
    expect(out).not.toContain('xyz');
    expect(out).toContain('host=db user=u');
    expect(out).toContain('dbname=lab');
  });

  it('masks AWS access key ids', () => {
    const out = redactSecrets('InvalidAccessKeyId: AKIAIOSFODNN7EXAMPLE is unknown');
    expect(out).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(out).toContain('is unknown');
  });

  it('leaves ordinary text alone', () => {
    const text = 'upload of sub/data.csv failed: HTTP 503 SlowDown at 2024-05-01T00:00:00Z (s3://bucket/p/S1/data.csv)';
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('redactSecrets edge cases', () => {
  it('masks a URL password that itself contains "@"', () => {
    const out = redactSecrets('connect failed: postgres://u:p@ss@db.internal:5432/x');
    expect(out).not.toContain('p@ss');
    expect(out).not.toContain('ss@db');
    expect(out).toContain('postgres://u:***@db.internal:5432/x');
  });
  it('leaves prose that merely mentions a token alone', () => {
    expect(redactSecrets('the token bucket is empty')).toBe('the token bucket is empty');
  });
});

describe('system errors libuv has no name for', () => {
  it('ESTALE (a stale NFS handle, "Unknown system error -116") is an fs error a retry can fix', () => {
    const err = Object.assign(new Error('Unknown system error -116: Unknown system error -116, read'), {
      code: 'Unknown system error -116',
      errno: -116,
      syscall: 'read',
    });
    expect(classifyError(err)).toMatchObject({ code: 'FS_ESTALE', kind: 'fs', retryable: true });
  });
});
