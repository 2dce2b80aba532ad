import { eachConcurrently } from '../each-concurrently.js';
import type { NfsClient, NfsHandle } from './nfs/client.js';
import { nfsAttributes } from './nfs-attributes.js';
import type { ShareAttributes, ShareFile } from './share.js';

/**
 * READs in flight at once for one range: enough to overlap the round trips (a part of 8 MiB
 * is eight 1 MiB READs), while memory stays the caller's buffer plus this many replies.
 */
const READS_IN_FLIGHT = 8;

/**
 * A regular file on an NFS share, read by its handle with the anonymous stateid (no OPEN, so
 * nothing is left on the server by a crash). Each range is split into READs of the client's
 * size, sent together, each copied once into the caller's buffer.
 */
export class NfsFile implements ShareFile {
  constructor(
    private readonly client: NfsClient,
    private readonly handle: NfsHandle,
    readonly attributes: ShareAttributes,
    /** The signal the file was opened with: its reads stop waiting when it aborts. */
    private readonly signal: AbortSignal,
  ) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    const chunk = this.client.readSize;
    const count = Math.ceil(length / chunk);
    const filled = new Array<number>(count).fill(0);
    let endAt = count; // the first chunk that reached the end of the file: none after it is read
    const readChunk = async (i: number) => {
      const start = i * chunk;
      const size = Math.min(chunk, length - start);
      let got = 0;
      // A short READ before the end of the file (the server's choice): ask for the rest.
      while (got < size) {
        const { data, eof } = await this.client.read(this.handle, position + start + got, size - got, { signal: this.signal });
        data.copy(buffer, offset + start + got);
        got += data.length;
        if (eof || data.length === 0) {
          endAt = Math.min(endAt, i);
          break;
        }
      }
      filled[i] = got;
    };
    await eachConcurrently(filled, READS_IN_FLIGHT, (_, i) => (i <= endAt ? readChunk(i) : Promise.resolve()));
    let total = 0;
    for (const [i, got] of filled.entries()) {
      total += got;
      if (got < Math.min(chunk, length - i * chunk)) break;
    }
    return total;
  }

  async currentAttributes(): Promise<ShareAttributes> {
    return nfsAttributes(await this.client.getattr(this.handle, { signal: this.signal }));
  }

  async close(): Promise<void> {
    // Nothing to release: reads carry the anonymous stateid, no OPEN was made.
  }
}
