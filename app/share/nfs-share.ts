import { connectNfs, type NfsClient, type NfsConnectOptions, type NfsEntry } from './nfs/client.js';
import { untilAborted } from './nfs/nfs-error.js';
import { ACCESS4_DELETE, ACCESS4_EXTEND, ACCESS4_LOOKUP, ACCESS4_MODIFY } from './nfs/protocol.js';
import { nfsAttributes } from './nfs-attributes.js';
import { NfsFile } from './nfs-file.js';
import { shareError, type Share, type ShareAttributes, type ShareEntry, type ShareFile } from './share.js';

/** How the agent reaches NFS servers (the config's `share.nfs`). */
export interface NfsShareOptions {
  proxy?: string | undefined;
  uid?: number | undefined;
  gid?: number | undefined;
  timeout_seconds: number;
  retry_seconds: number;
}

/** An `nfs://HOST[:PORT]/PATH` path taken apart: the server, and the names from its pseudo-root. */
interface NfsPath {
  server: string;
  host: string;
  port: number;
  names: string[];
}

const NFS_PATH = /^nfs:\/\/(\[[^\]]+\]|[^/:[\]]+)(?::(\d+))?(\/.*)?$/;

function parseNfsPath(path: string): NfsPath {
  const m = NFS_PATH.exec(path);
  if (!m) throw shareError('EINVAL', `${path} is not an nfs://HOST[:PORT]/PATH path`);
  const host = (m[1] as string).replace(/^\[|\]$/g, '');
  const port = m[2] ? Number(m[2]) : 2049;
  // Names as they are: no percent-decoding, a space or a `%` is part of the name.
  const names = (m[3] ?? '').split('/').filter((n) => n !== '');
  return { server: `${host}:${port}`, host, port, names };
}

/** The folder holding `p` and the last name; the pseudo-root itself has none. */
function parentOf(p: NfsPath, path: string): { folder: string; name: string } {
  const name = p.names.at(-1);
  if (name === undefined) throw shareError('EINVAL', `${path} is the server's root`);
  return { folder: p.names.slice(0, -1).join('/'), name };
}

const WRITE_ACCESS = ACCESS4_LOOKUP | ACCESS4_MODIFY | ACCESS4_EXTEND | ACCESS4_DELETE;

/**
 * Shares reached over NFSv4.1 from inside the process (app/share/nfs): one client per server,
 * shared by every root on it, made on first use and made again after a failed connect. Paths
 * are resolved from the server's pseudo-root on every call (one COMPOUND), so a folder
 * replaced on the server is found afresh rather than through a stale handle. A call's signal
 * ends the call's wait (for its connection too); the client and its connection stay for the
 * other calls, and `close` ends them.
 */
export class NfsShare implements Share {
  private readonly clients = new Map<string, Promise<NfsClient>>();
  /** Aborted by `close`: a connection still being made gives up instead of holding the shutdown. */
  private readonly closing = new AbortController();

  constructor(private readonly options: NfsShareOptions) {}

  async list(path: string, signal: AbortSignal): Promise<ShareEntry[]> {
    const { client, entry } = await this.lookup(path, signal);
    if (entry.type !== 'dir') throw shareError(entry.type === 'symlink' ? 'ELOOP' : 'ENOTDIR', `${path} is not a folder`);
    const entries = await client.readdir(entry.handle, { signal });
    // The name's bytes as the server sent them: one that is not UTF-8 is reported as such, never decoded into another name.
    return entries.map((e) => ({ name: e.nameBytes, ...nfsAttributes(e) }));
  }

  async stat(path: string, signal: AbortSignal): Promise<ShareAttributes> {
    return nfsAttributes((await this.lookup(path, signal)).entry);
  }

  async openFile(path: string, signal: AbortSignal): Promise<ShareFile> {
    const { client, entry } = await this.lookup(path, signal);
    if (entry.type === 'symlink') throw shareError('ELOOP', `${path} is a symbolic link`);
    if (entry.type !== 'file') throw shareError('EFTYPE', `${path} is not a regular file`);
    return new NfsFile(client, entry.handle, nfsAttributes(entry), signal);
  }

  async createFolder(path: string, signal: AbortSignal): Promise<void> {
    const p = parseNfsPath(path);
    const { folder, name } = parentOf(p, path);
    const { client, entry } = await this.lookupNames(p, folder, signal);
    await client.mkdir(entry.handle, name, undefined, { signal });
  }

  /**
   * RENAME on the server. The source must be a folder and the target absent or a folder: the
   * server then replaces only an empty folder (a reservation), never one with content.
   */
  async renameFolder(from: string, to: string, signal: AbortSignal): Promise<void> {
    const source = parseNfsPath(from);
    const target = parseNfsPath(to);
    if (source.server !== target.server) throw shareError('EXDEV', `${from} and ${to} are on different servers`);
    const { client, entry: moving } = await this.lookup(from, signal);
    if (moving.type !== 'dir') throw shareError('ENOTDIR', `${from} is not a folder`);
    const existing = await this.lookup(to, signal).catch((err: { code?: string }) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (existing && existing.entry.type !== 'dir') throw shareError('EEXIST', `${to} exists and is not a folder`);
    const src = parentOf(source, from);
    const dst = parentOf(target, to);
    const [fromDir, toDir] = await Promise.all([this.lookupNames(source, src.folder, signal), this.lookupNames(target, dst.folder, signal)]);
    await client.renameFolderOnto(fromDir.entry.handle, src.name, toDir.entry.handle, dst.name, { signal });
  }

  async removeEmptyFolder(path: string, signal: AbortSignal): Promise<void> {
    const p = parseNfsPath(path);
    const { client, entry } = await this.lookup(path, signal);
    if (entry.type !== 'dir') throw shareError('ENOTDIR', `${path} is not a folder`);
    const { folder, name } = parentOf(p, path);
    await client.remove((await this.lookupNames(p, folder, signal)).entry.handle, name, { signal });
  }

  async canWrite(path: string, signal: AbortSignal): Promise<boolean> {
    try {
      const { client, entry } = await this.lookup(path, signal);
      return (await client.access(entry.handle, WRITE_ACCESS, { signal })) === WRITE_ACCESS;
    } catch (err) {
      if (signal.aborted) throw err;
      return false;
    }
  }

  /** Ends every server's session and connection, and any connection still being made. */
  async close(): Promise<void> {
    this.closing.abort();
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map(async (c) => (await c.catch(() => null))?.close()));
  }

  private lookup(path: string, signal: AbortSignal): Promise<{ client: NfsClient; entry: NfsEntry }> {
    const p = parseNfsPath(path);
    return this.lookupNames(p, p.names.join('/'), signal);
  }

  private async lookupNames(p: NfsPath, names: string, signal: AbortSignal): Promise<{ client: NfsClient; entry: NfsEntry }> {
    // The connection is shared: a caller that gives up stops waiting for it, and it goes on being made for the others.
    const client = await untilAborted(this.client(p), signal);
    return { client, entry: await client.resolve(names, { signal }) };
  }

  private client(p: NfsPath): Promise<NfsClient> {
    const known = this.clients.get(p.server);
    if (known) return known;
    const o = this.options;
    const options: NfsConnectOptions = {
      host: p.host,
      port: p.port,
      exportPath: '/',
      timeoutMs: o.timeout_seconds * 1000,
      retryForMs: o.retry_seconds * 1000,
      signal: this.closing.signal,
      ...(o.proxy ? { proxy: o.proxy } : {}),
      ...(o.uid !== undefined ? { uid: o.uid } : {}),
      ...(o.gid !== undefined ? { gid: o.gid } : {}),
    };
    const connecting = connectNfs(options);
    this.clients.set(p.server, connecting);
    // A server that could not be reached is tried again on the next call.
    connecting.catch(() => {
      if (this.clients.get(p.server) === connecting) this.clients.delete(p.server);
    });
    return connecting;
  }
}
