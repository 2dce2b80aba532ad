import type { NfsClient, NfsHandle, ReadResult } from './client.js';
import { NfsError } from './nfs-error.js';

export interface ReadChunksOptions {
  /** Where to start. Default 0. */
  offset?: number;
  /** Bytes per READ. Default the client's READ size (up to 1 MiB). */
  chunkSize?: number;
  /** READs outstanding for this file at once. Default 4; memory held is about inFlight × chunkSize. */
  inFlight?: number;
  /**
   * The file's size as the listing gave it: no READ is sent past it ahead of time (a 16 KiB file costs one
   * READ, not inFlight). Reading still goes on to the server's end of file if the file grew.
   */
  expectedSize?: number;
  signal?: AbortSignal;
}

interface PendingRead {
  offset: number;
  length: number;
  result: Promise<ReadResult>;
}

/**
 * A whole file, from `offset` to the server's end of file, as chunks in order, with several
 * READs in flight so the round trips overlap. Each byte is yielded once. A chunk is a buffer
 * of its own, which the socket read the data into; the consumer may keep it.
 */
export async function* readChunks(client: NfsClient, handle: NfsHandle, options: ReadChunksOptions = {}): AsyncGenerator<Buffer, void, undefined> {
  const chunkSize = options.chunkSize ?? client.readSize;
  const inFlight = Math.max(1, options.inFlight ?? 4);
  const callOptions = options.signal ? { signal: options.signal } : undefined;
  const queue: PendingRead[] = [];
  let nextOffset = options.offset ?? 0;
  const expectedEnd = options.expectedSize ?? Infinity;
  const fill = () => {
    while (queue.length < inFlight && (nextOffset < expectedEnd || queue.length === 0)) {
      const offset = nextOffset;
      const result = client.read(handle, offset, chunkSize, callOptions);
      // Reads past the end, or past an error, are dropped unread: they must not surface as unhandled.
      result.catch(() => undefined);
      queue.push({ offset, length: chunkSize, result });
      nextOffset += chunkSize;
    }
  };
  try {
    fill();
    for (;;) {
      const head = queue.shift() as PendingRead;
      let { data, eof } = await head.result;
      let position = head.offset + data.length;
      if (data.length > 0) yield data;
      // A short READ that is not at the end: fetch the rest of this range before the next one.
      while (!eof && position < head.offset + head.length) {
        ({ data, eof } = await client.read(handle, position, head.offset + head.length - position, callOptions));
        if (data.length === 0 && !eof)
          throw new NfsError('NFS4ERR_IO', `read ${handle.path}: server returned no data at offset ${position} before the end of the file`, 5);
        position += data.length;
        if (data.length > 0) yield data;
      }
      if (eof) return;
      fill();
    }
  } finally {
    queue.length = 0;
  }
}
