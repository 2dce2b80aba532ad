import { close, constants, fstat, open, read, type BigIntStats } from 'node:fs';
import { SessionChangedError } from '../errors.js';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * A session file opened for reading: never through a link, never blocking on a FIFO or a
 * device, and only if it is a regular file. A plain descriptor with the callback fs API: for
 * thousands of small files the promise API's FileHandle costs a third more CPU per file.
 */
export class SessionFile {
  private constructor(
    private readonly fd: number,
    /** The fstat taken right after opening. */
    readonly stat: BigIntStats,
  ) {}

  /**
   * The listing saw a regular file at `absolutePath`: one that is gone, or is a link or a
   * special file now, means the folder is still changing (SessionChangedError: the session
   * waits for a stable folder again, no attempt counted).
   */
  static async open(absolutePath: string, relativePath: string): Promise<SessionFile> {
    const fd = await new Promise<number>((resolve, reject) =>
      open(absolutePath, OPEN_FLAGS, (err, fd) => {
        if (err?.code === 'ENOENT') reject(new SessionChangedError(`${relativePath} disappeared after the folder was listed`));
        else if (err?.code === 'ELOOP') reject(new SessionChangedError(`${relativePath} became a link after the folder was listed`));
        else if (err) reject(err);
        else resolve(fd);
      }),
    );
    let stat: BigIntStats;
    try {
      stat = await statFd(fd);
    } catch (err) {
      await closeFd(fd);
      throw err;
    }
    if (!stat.isFile()) {
      await closeFd(fd);
      throw new SessionChangedError(`${relativePath} is no longer a regular file`);
    }
    return new SessionFile(fd, stat);
  }

  /** Reads up to `length` bytes at `position` (`null`: from the current offset); 0 at the end. */
  read(buffer: Buffer, offset: number, length: number, position: number | null): Promise<number> {
    return new Promise((resolve, reject) => read(this.fd, buffer, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))));
  }

  fstat(): Promise<BigIntStats> {
    return statFd(this.fd);
  }

  close(): Promise<void> {
    return closeFd(this.fd);
  }
}

function statFd(fd: number): Promise<BigIntStats> {
  return new Promise((resolve, reject) => fstat(fd, { bigint: true }, (err, stat) => (err ? reject(err) : resolve(stat))));
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => close(fd, (err) => (err ? reject(err) : resolve())));
}
