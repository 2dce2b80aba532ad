import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import { AgentError } from '../errors.js';

// CommonJS evaluated in the worker: a few lines, so the worker is a bare isolate (≈10 MB)
// rather than a second copy of the agent's bundle.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { crc32 } = require('node:zlib');
const hashes = new Map();
parentPort.on('message', ({ seq, file, data, end }) => {
  try {
    let hash = hashes.get(file);
    if (!hash) hashes.set(file, (hash = createHash('sha256')));
    if (data) hash.update(data);
    if (end) hashes.delete(file);
    parentPort.postMessage({ seq, digest: end === 'digest' ? hash.digest('hex') : undefined, crc32: data ? crc32(data) : undefined });
  } catch (err) {
    parentPort.postMessage({ seq, error: String(err) });
  }
});
`;

interface Reply {
  seq: number;
  digest?: string;
  crc32?: number;
  error?: string;
}

/** One file's SHA-256, taken on the worker: updates are applied in the order they are made. */
export interface FileHash {
  /**
   * Adds `data` to the file's SHA-256 and resolves with its own CRC32 (base64, as S3 wants a
   * part's checksum) once the worker has read it: only then may its buffer be reused.
   */
  update(data: Buffer): Promise<string>;
  digest(): Promise<string>;
  /** Forget the file (its upload failed). */
  discard(): void;
}

/**
 * SHA-256 of large files on a worker thread, beside the requests rather than in front of
 * them: the main thread spends ≈1 s per GiB hashing otherwise, and with it the uploads of a
 * large file were bound to one core. Part buffers on a SharedArrayBuffer (BufferBudget's) reach
 * the worker without a copy; others are copied. One worker per session upload with large
 * files, ended when that upload ends.
 */
export class HashWorker {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private seq = 0;
  private files = 0;
  private failure: Error | null = null;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 } });
    this.worker.on('message', (r: Reply) => {
      const w = this.waiting.get(r.seq);
      this.waiting.delete(r.seq);
      if (r.error !== undefined) w?.reject(new AgentError('HASH_FAILED', `hashing on the worker thread failed: ${r.error}`, 'internal', true));
      else w?.resolve(r);
    });
    const fail = (err: Error) => {
      this.failure ??= new AgentError('HASH_WORKER_EXITED', `the hashing worker thread stopped: ${err.message}`, 'internal', true, { cause: err });
      for (const w of this.waiting.values()) w.reject(this.failure);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  start(): FileHash {
    const file = ++this.files;
    return {
      update: async (data) => crc32Base64((await this.call({ file, data })).crc32 ?? 0),
      digest: async () => (await this.call({ file, end: 'digest' })).digest ?? '',
      discard: () => {
        if (!this.failure) this.worker.postMessage({ seq: ++this.seq, file, end: 'discard' });
      },
    };
  }

  /** Ends the worker; what is still waiting is rejected. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private call(message: { file: number; data?: Buffer; end?: 'digest' }): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = ++this.seq;
    // A plain Uint8Array view: a Buffer slice of shared memory measured 30 times slower to post.
    const data = message.data ? new Uint8Array(message.data.buffer, message.data.byteOffset, message.data.byteLength) : undefined;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ seq, file: message.file, data, end: message.end });
    });
  }
}

/** The same interface, hashing on the calling thread (no worker for this upload). */
export function hashOnThisThread(): FileHash {
  const hash = createHash('sha256');
  return {
    update: async (data) => {
      hash.update(data);
      return crc32Base64(crc32(data));
    },
    digest: async () => hash.digest('hex'),
    discard: () => undefined,
  };
}

/** A CRC32 as S3 wants it in `x-amz-checksum-crc32`. */
export function crc32Base64(value: number): string {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value >>> 0);
  return b.toString('base64');
}
