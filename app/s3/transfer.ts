import type { S3Client } from '@aws-sdk/client-s3';
import type { AgentConfig } from '../config/schema.js';
import { bandwidthLimiterFor, type BandwidthLimiter } from './bandwidth.js';
import { BufferBudget } from './buffer-budget.js';
import { leanPutFor } from './direct-put.js';
import { Limiter } from './limiter.js';
import { SdkPut, type PutTransport } from './put-transport.js';

const MIB = 1024 * 1024;

/**
 * The upload machinery of one process, made once by the composition root and shared by every
 * session it uploads at once: S3 requests in flight (`upload.concurrency`), the memory for
 * their bodies (`upload.buffer_memory_mb`), the bandwidth limit, and the transport that
 * carries file data. Closed at shutdown.
 */
export class Transfer {
  /** S3 requests in flight, counted whatever their size. */
  readonly requests: Limiter;
  /** Bytes of file data in memory: every body takes its bytes here before it is read. */
  readonly buffers: BufferBudget;
  /** null: no limit configured. */
  readonly bandwidth: BandwidthLimiter | null;
  private transport: Promise<PutTransport> | null = null;
  private closed = false;

  constructor(
    /** For the requests that stay with the SDK (multipart bookkeeping, HEAD). */
    readonly s3: S3Client,
    private readonly upload: AgentConfig['upload'],
    timeZone: string,
  ) {
    this.requests = new Limiter(upload.concurrency);
    this.buffers = new BufferBudget(upload.buffer_memory_mb * MIB, upload.part_size_mb * MIB);
    this.bandwidth = bandwidthLimiterFor(upload, timeZone);
  }

  /**
   * What carries file data, chosen once, on first use (commands that upload nothing never
   * resolve the endpoint): the lean HTTP/1 PUT where the endpoint is plain SigV4, else the SDK.
   */
  put(): Promise<PutTransport> {
    if (this.closed) return Promise.reject(new Error('the transfer is closed'));
    const bucket = this.upload.s3_bucket;
    this.transport ??= leanPutFor(this.s3, bucket, this.upload.concurrency * 2).then((lean) => lean ?? new SdkPut(this.s3, bucket));
    return this.transport;
  }

  /** Closes the transport's connections (the S3 client is closed by whoever made it). */
  async close(): Promise<void> {
    this.closed = true;
    (await this.transport)?.close();
  }
}
