import { constants as osConstants } from 'node:os';

/**
 * One table for every error the agent meets: S3, PostgreSQL and the filesystem (local, or NFS
 * in user space).
 * `retryable` says whether trying the same thing later can help; `attention` errors
 * need a person (the session goes to needs_attention without burning retries).
 */
export type ErrorKind = 's3' | 's3_access' | 's3_unreachable' | 'db' | 'fs' | 'session' | 'lease' | 'internal';

export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly kind: ErrorKind,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AgentError';
  }
}

/** A problem with the session's contents that no retry can fix. */
export function sessionProblem(code: string, message: string): AgentError {
  return new AgentError(code, message, 'session', false);
}

/** The files changed while we worked: start the stability window again. */
export class SessionChangedError extends AgentError {
  constructor(message: string) {
    super('SESSION_CHANGED', message, 'session', true);
  }
}

/** Another agent owns the session now; stop touching it. */
export class LeaseLostError extends AgentError {
  constructor(sessionPk: number) {
    super('LEASE_LOST', `lease on session #${sessionPk} was lost to another agent`, 'lease', true);
  }
}

// Filesystem errors a person must fix; every other one (EIO, ESTALE, ENOENT, EAGAIN, ENOSPC, …)
// is worth retrying later.
const FS_ATTENTION = new Set(['EACCES', 'EPERM', 'ELOOP', 'ENAMETOOLONG', 'EROFS', 'EXDEV', 'ENOTDIR', 'EISDIR']);

// NFS failures (app/share/nfs, named by nfsStatus without NFS4ERR_) a person must fix: rights,
// names the server refuses, a server that does not speak NFSv4.1. Stale handles, server faults,
// grace periods, timeouts and lost connections are worth retrying.
const NFS_ATTENTION = new Set([
  'PERM',
  'ACCESS',
  'ROFS',
  'NAMETOOLONG',
  'NOTDIR',
  'ISDIR',
  'XDEV',
  'SYMLINK',
  'WRONGSEC',
  'BADNAME',
  'BADCHAR',
  'NOTSUPP',
  'MINOR_VERS_MISMATCH',
  'RPC_AUTH_ERROR',
  'RPC_MISMATCH',
]);

const S3_ATTENTION = new Set(['NoSuchBucket', 'InvalidBucketName', 'EntityTooLarge']);

/**
 * S3 refusing the agent itself: its credentials or its permissions. Not the session's fault:
 * uploads pause (S3AccessGate) and no session spends a retry; fixing the role or the keys,
 * or the credentials being refreshed, helps.
 */
const S3_ACCESS = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'InvalidClientTokenId',
  'KMS.AccessDeniedException',
  // A 403 answer without a body (HEAD requests): S3 does not say which of the above it is.
  'Forbidden',
]);

/**
 * S3 error codes a repeat of the same request can get past, whatever their HTTP status
 * (RequestTimeout is a 400; some throttling comes as 400): the SDK's transient and throttling
 * names. The lean PUT retries a request on these; the table below retries a whole attempt.
 */
export const S3_RETRYABLE_REQUEST_CODES: ReadonlySet<string> = new Set([
  'RequestTimeout',
  'RequestTimeoutException',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'InternalError',
  'ServiceUnavailable',
]);

// An attempt is also worth repeating after a timeout, or when a multipart upload or part was
// lost: it is started afresh on the next attempt.
const S3_TRANSIENT = new Set([...S3_RETRYABLE_REQUEST_CODES, 'NoSuchUpload', 'InvalidPart', 'TimeoutError']);

/**
 * No connection to S3 could be made at all: refused, no such host, no route, or connecting
 * timed out (a VPN or Tailscale path down). When the prefix cannot be reached either, uploads
 * pause like for S3_ACCESS (S3AccessGate) and no session spends a retry. A connection that was
 * made and then reset, or a request timing out mid-body, is not this: the session retries.
 */
const S3_UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN']);
// The SDK's and the lean PUT's words for a connect timeout; a request timeout says otherwise.
const CONNECT_TIMEOUT = /did not establish a connection with the server|connecting to S3 timed out/;

/** The reason no connection to S3 could be made (S3_UNREACHABLE, or a connect timeout), else undefined. */
function unreachableReason(e: { code?: string; errno?: number; syscall?: string }, message: string): string | undefined {
  const sys = systemErrorCode(e);
  if (sys !== undefined && S3_UNREACHABLE.has(sys)) return sys;
  if ((sys === 'ETIMEDOUT' && e.syscall === 'connect') || CONNECT_TIMEOUT.test(message)) return 'CONNECT_TIMEOUT';
  return undefined;
}

const PG_CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

/** errno → name; libuv has no name for some (ESTALE is "Unknown system error -116"). */
const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

function systemErrorCode(e: { code?: string; errno?: number }): string | undefined {
  if (typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) return e.code;
  if (typeof e.errno === 'number') return ERRNO_NAMES.get(Math.abs(e.errno)) ?? e.code;
  return e.code;
}

/** The HTTP status of an S3 answer; undefined when there was no answer (network error). */
export function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

export function classifyError(err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  const e = err as {
    name?: string;
    code?: string;
    errno?: number;
    syscall?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    severity?: string;
  };
  const message = e?.message ?? String(err);
  if (e?.name === 'AbortError') return new AgentError('ABORTED', 'aborted', 'internal', true, { cause: err });

  if (e?.name === 'CredentialsProviderError') {
    return new AgentError('S3_NoCredentials', `no AWS credentials: ${message}`, 's3_access', true, { cause: err });
  }
  if (e?.$metadata !== undefined) {
    const status = e.$metadata.httpStatusCode ?? 0;
    // The SDK names an error it could not read from the body "Unknown" ("UnknownError").
    const bodiless = e.name === undefined || e.name === 'Unknown';
    if (status === 403 && bodiless) {
      return new AgentError(
        'S3_Forbidden',
        'S3 Forbidden (HTTP 403): refused without a reason (a HEAD answer has no body): the credentials or the permissions',
        's3_access',
        true,
        { cause: err },
      );
    }
    const unreachable = status === 0 ? unreachableReason(e, message) : undefined;
    if (unreachable) return new AgentError(`S3_${unreachable}`, `S3 ${unreachable}: ${message}`, 's3_unreachable', true, { cause: err });
    const code = bodiless ? `HTTP${status}` : (e.name ?? 'S3Error');
    if (S3_ACCESS.has(code)) return new AgentError(`S3_${code}`, `S3 ${code} (HTTP ${status}): ${message}`, 's3_access', true, { cause: err });
    const retryable =
      S3_TRANSIENT.has(code) ||
      (!S3_ATTENTION.has(code) && (status === 0 || status >= 500 || status === 429 || status === 408 || status === 409 || status === 412));
    return new AgentError(`S3_${code}`, `S3 ${code}${status ? ` (HTTP ${status})` : ''}: ${message}`, 's3', retryable, { cause: err });
  }
  // PostgreSQL server errors carry a 5-character SQLSTATE and a severity.
  if (typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && e.severity !== undefined) {
    const cls = e.code.slice(0, 2);
    const retryable = ['08', '40', '53', '57', '58'].includes(cls) || e.code === '55P03';
    return new AgentError(`PG_${e.code}`, `database error ${e.code}: ${message}`, 'db', retryable, { cause: err });
  }
  const nfsStatus = (err as { nfsStatus?: unknown } | null)?.nfsStatus;
  if (typeof nfsStatus === 'string') {
    const name = nfsStatus.replace(/^NFS4ERR_/, '');
    return new AgentError(`NFS_${name}`, message, 'fs', !NFS_ATTENTION.has(name), { cause: err });
  }
  const sys = e && typeof e === 'object' ? systemErrorCode(e) : undefined;
  if (typeof sys === 'string' && /^E[A-Z0-9]+$/.test(sys)) {
    if (PG_CONNECTION_CODES.has(sys) && /connect|socket|5432/i.test(message)) {
      return new AgentError(`DB_${sys}`, `database unreachable (${sys})`, 'db', true, { cause: err });
    }
    const retryable = !FS_ATTENTION.has(sys);
    return new AgentError(`FS_${sys}`, sys === e.code ? message : `${sys}: ${message}`, 'fs', retryable, { cause: err });
  }
  if (/Connection terminated|connection.*(closed|ended)|timeout exceeded when trying to connect/i.test(message)) {
    return new AgentError('DB_CONNECTION', `database connection lost: ${message}`, 'db', true, { cause: err });
  }
  return new AgentError('INTERNAL', message, 'internal', true, { cause: err });
}

/** Error text safe to store and log: credentials in URLs are masked. */
export function redactSecrets(text: string): string {
  return (
    text
      // Greedy up to the last '@' of the URL: a password may itself contain '@'.
      .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)\S*@/gi, '$1***@')
      .replace(/(password|passwd|secret|token|authkey)("?\s*[=:]\s*"?)([^\s"',;&]+)/gi, '$1$2***')
      .replace(/AKIA[0-9A-Z]{16}/g, 'AKIA****************')
  );
}
