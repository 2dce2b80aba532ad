import { NFS4_STATUS } from './protocol.js';

/**
 * Transport failures, named like nfsstat4 values without the NFS4ERR_ prefix so that
 * app/errors.ts maps both kinds with one rule (`NFS_<name>`).
 */
export type TransportFailure =
  | 'TIMEOUT' // an RPC passed its deadline; the connection was torn down
  | 'CONNECTION_REFUSED'
  | 'CONNECTION_LOST' // closed or reset with RPCs in flight
  | 'UNREACHABLE' // no route, no such host
  | 'PROXY_FAILED' // the SOCKS5 proxy refused or failed the connection
  | 'RPC_AUTH_ERROR' // the server refused the AUTH_SYS credentials
  | 'RPC_MISMATCH'; // the server does not speak NFSv4.1 over ONC RPC v2

/** POSIX equivalents, so that code written against node:fs errors (`code === 'ENOENT'`) works on NFS too. */
const POSIX_CODE: Readonly<Record<string, string>> = {
  NFS4ERR_PERM: 'EPERM',
  NFS4ERR_NOENT: 'ENOENT',
  NFS4ERR_IO: 'EIO',
  NFS4ERR_NXIO: 'ENXIO',
  NFS4ERR_ACCESS: 'EACCES',
  NFS4ERR_EXIST: 'EEXIST',
  NFS4ERR_XDEV: 'EXDEV',
  NFS4ERR_NOTDIR: 'ENOTDIR',
  NFS4ERR_ISDIR: 'EISDIR',
  NFS4ERR_INVAL: 'EINVAL',
  NFS4ERR_NOSPC: 'ENOSPC',
  NFS4ERR_ROFS: 'EROFS',
  NFS4ERR_NAMETOOLONG: 'ENAMETOOLONG',
  NFS4ERR_NOTEMPTY: 'ENOTEMPTY',
  NFS4ERR_DQUOT: 'EDQUOT',
  NFS4ERR_STALE: 'ESTALE',
  NFS4ERR_BADHANDLE: 'ESTALE',
  NFS4ERR_FHEXPIRED: 'ESTALE',
  NFS4ERR_SYMLINK: 'ELOOP',
  NFS4ERR_WRONGSEC: 'EACCES',
  NFS4ERR_DELAY: 'EAGAIN',
  NFS4ERR_GRACE: 'EAGAIN',
  NFS4ERR_NOTSUPP: 'ENOTSUP',
  TIMEOUT: 'ETIMEDOUT',
  CONNECTION_REFUSED: 'ECONNREFUSED',
  CONNECTION_LOST: 'ECONNRESET',
  UNREACHABLE: 'EHOSTUNREACH',
  PROXY_FAILED: 'ECONNREFUSED',
  RPC_AUTH_ERROR: 'EACCES',
  RPC_MISMATCH: 'EPROTONOSUPPORT',
};

/**
 * An NFS failure. `nfsStatus` is the protocol's name for it (NFS4ERR_STALE) or a transport
 * failure (TIMEOUT); `code` is the POSIX equivalent (ESTALE); `status` the nfsstat4 number.
 */
export class NfsError extends Error {
  readonly code: string;

  constructor(
    readonly nfsStatus: string,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NfsError';
    this.code = POSIX_CODE[nfsStatus] ?? 'EIO';
  }
}

export function statusName(status: number): string {
  return NFS4_STATUS[status] ?? `NFS4ERR_${status}`;
}

/** A failed operation inside a COMPOUND. */
export function nfsStatusError(status: number, what: string): NfsError {
  const name = statusName(status);
  return new NfsError(name, `${what}: ${name}`, status);
}

export function transportError(failure: TransportFailure, message: string, cause?: unknown): NfsError {
  return new NfsError(failure, message, undefined, cause === undefined ? undefined : { cause });
}

/** Failures where the same request may succeed once the connection is made again. */
export function isTransportFailure(err: unknown): err is NfsError {
  return err instanceof NfsError && ['TIMEOUT', 'CONNECTION_REFUSED', 'CONNECTION_LOST', 'UNREACHABLE', 'PROXY_FAILED'].includes(err.nfsStatus);
}

export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('The operation was aborted', 'AbortError');
}

/** `promise`, or an AbortError as soon as the signal aborts (the work behind the promise goes on). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
