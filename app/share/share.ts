/**
 * Everything the pipeline does to a lab share, in one interface: the local filesystem (kernel
 * mounts) implements it with system calls, an NFS client in user space with NFSv4 operations
 * (LOOKUP, READDIR with attributes, GETATTR, READ, CREATE, RENAME, REMOVE, ACCESS).
 *
 * Paths are strings in the root's own notation (an absolute path, or `nfs://host:port/path`
 * below an NFS root), joined with `childPath`. Errors carry errno-style codes (ENOENT,
 * EEXIST, ENOTEMPTY, EACCES, EIO, ESTALE, ELOOP, ETIMEDOUT…), so the one error table in
 * errors.ts decides what is retried and what needs a person, whatever the protocol.
 *
 * Every call takes the caller's AbortSignal: once it aborts, the call rejects with an
 * AbortError instead of waiting on a server that has stopped answering (a local system call
 * cannot be cancelled, so the local share checks it between calls).
 */
export interface Share {
  /**
   * The entries of a folder with their own attributes; links are reported as links, never
   * followed. An entry that vanishes while the folder is read is left out.
   */
  list(path: string, signal: AbortSignal): Promise<ShareEntry[]>;
  /** The attributes of `path` itself (a link is a link). */
  stat(path: string, signal: AbortSignal): Promise<ShareAttributes>;
  /**
   * Opens a regular file for reading: a link fails with ELOOP and anything else that is not
   * a regular file with EFTYPE, without ever blocking on a FIFO or a device. The file's reads
   * and attribute checks stop waiting when `signal` aborts.
   */
  openFile(path: string, signal: AbortSignal): Promise<ShareFile>;
  /** Creates one folder; EEXIST when the name is taken (by anything). */
  createFolder(path: string, signal: AbortSignal): Promise<void>;
  /**
   * Renames a folder within the share onto `to`, which must not exist or be an empty folder
   * (one `createFolder` reserved): nothing with content is ever replaced.
   */
  renameFolder(from: string, to: string, signal: AbortSignal): Promise<void>;
  /** Removes a folder only if it is empty (ENOTEMPTY otherwise). */
  removeEmptyFolder(path: string, signal: AbortSignal): Promise<void>;
  /** Whether this agent may create and rename entries in the folder (no change is made). */
  canWrite(path: string, signal: AbortSignal): Promise<boolean>;
  /** Releases what the share holds (an NFS client's sessions and connections); called once, at shutdown. */
  close(): Promise<void>;
}

/** What an entry is, from its own attributes. */
export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'block_device' | 'character_device' | 'other';

export interface ShareAttributes {
  type: EntryType;
  size: number;
  mtimeNs: bigint;
  /** NFSv4's change attribute (bumped by every change to the object); null where the protocol has none. */
  change: bigint | null;
}

export interface ShareEntry extends ShareAttributes {
  /** The name's bytes as stored: a name need not be valid UTF-8. */
  name: Buffer;
}

/** A regular file opened for reading in ranges, into the caller's buffers. */
export interface ShareFile {
  /** The attributes when it was opened. */
  readonly attributes: ShareAttributes;
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; 0 at the end of the file. */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** The attributes now. */
  currentAttributes(): Promise<ShareAttributes>;
  close(): Promise<void>;
}

/** `name` inside the folder `parent` (no normalisation: an `nfs://` URL keeps its `//`). */
export function childPath(parent: string, name: string): string {
  return parent.endsWith('/') ? `${parent}${name}` : `${parent}/${name}`;
}

/** An error with an errno-style code, as the share implementations throw them. */
export function shareError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/** Whether `path` exists (as anything: a link is not followed). */
export async function pathExists(share: Share, path: string, signal: AbortSignal): Promise<boolean> {
  try {
    await share.stat(path, signal);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return false;
    throw err;
  }
}
