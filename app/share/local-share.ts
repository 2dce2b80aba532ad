import { access, constants, lstat, mkdir, readdir, rename, rmdir, type BigIntStats } from 'node:fs';
import { eachConcurrently } from '../each-concurrently.js';
import { attributesOf } from './local-attributes.js';
import { LocalFile } from './local-file.js';
import { childPath, type Share, type ShareAttributes, type ShareEntry, type ShareFile } from './share.js';

/**
 * lstat calls in flight per listed folder: a new one as each returns, since on a kernel NFS
 * mount each is a round trip (libuv's pool is sized for it, see uploader-agent's launcher).
 */
const STAT_CONCURRENCY = 32;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A share reached through the kernel (a local disk, or an NFS/SMB mount). The callback fs
 * API throughout: fs/promises costs more CPU per call, and a session is listed before its
 * manifest and in every cycle it waits.
 */
export class LocalShare implements Share {
  async list(path: string, signal: AbortSignal): Promise<ShareEntry[]> {
    signal.throwIfAborted();
    const names = await new Promise<Buffer[]>((resolve, reject) => readdir(path, { encoding: 'buffer' }, (err, n) => (err ? reject(err) : resolve(n))));
    const stats = new Array<BigIntStats | null>(names.length);
    await eachConcurrently(names, STAT_CONCURRENCY, async (name, i) => {
      signal.throwIfAborted();
      try {
        stats[i] = await lstatBigint(entryPath(path, name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        stats[i] = null;
      }
    });
    const entries: ShareEntry[] = [];
    names.forEach((name, i) => {
      const st = stats[i];
      if (st) entries.push({ name, ...attributesOf(st) });
    });
    return entries;
  }

  async stat(path: string, signal: AbortSignal): Promise<ShareAttributes> {
    signal.throwIfAborted();
    return attributesOf(await lstatBigint(path));
  }

  /** The reads of a local file are system calls: the signal is checked before opening only. */
  async openFile(path: string, signal: AbortSignal): Promise<ShareFile> {
    signal.throwIfAborted();
    return LocalFile.open(path);
  }

  createFolder(path: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise((resolve, reject) => mkdir(path, (err) => (err ? reject(err) : resolve())));
  }

  /** rename(2) replaces an empty folder at `to` and fails on a folder with content (ENOTEMPTY) or a file (ENOTDIR). */
  renameFolder(from: string, to: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise((resolve, reject) => rename(from, to, (err) => (err ? reject(err) : resolve())));
  }

  removeEmptyFolder(path: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise((resolve, reject) => rmdir(path, (err) => (err ? reject(err) : resolve())));
  }

  canWrite(path: string, signal: AbortSignal): Promise<boolean> {
    signal.throwIfAborted();
    return new Promise((resolve) => access(path, constants.W_OK | constants.X_OK, (err) => resolve(!err)));
  }

  async close(): Promise<void> {
    // The kernel holds the mounts: nothing of ours to release.
  }
}

/** A string path when the name is UTF-8 (the common case), else the raw bytes, which fs takes as they are. */
function entryPath(folder: string, name: Buffer): string | Buffer {
  try {
    return childPath(folder, utf8.decode(name));
  } catch {
    return Buffer.concat([Buffer.from(childPath(folder, '')), name]);
  }
}

function lstatBigint(path: string | Buffer): Promise<BigIntStats> {
  return new Promise((resolve, reject) => lstat(path, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st))));
}
