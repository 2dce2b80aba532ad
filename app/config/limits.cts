// CommonJS so that the launcher (app/cli/uploader-agent.cts) can use it before any ES module loads.

/**
 * `upload.concurrency` when the configuration does not set it, and its largest allowed value.
 * 64 requests in flight: over a 40 ms round trip that is 1,600 small files a second, beyond
 * what the CPU of a small host uploads, so a lab on a VPN needs no tuning; memory is bounded
 * by `upload.buffer_memory_mb`, not by this.
 */
export const DEFAULT_CONCURRENCY = 64;
export const MAX_CONCURRENCY = 256;

/** `upload.buffer_memory_mb` when unset: this many parts of `part_size_mb` (8 × 8 MiB = 64 MiB). */
export const DEFAULT_BUFFERED_PARTS = 8;

/** `upload.parallel_sessions` when the configuration does not set it, and its largest allowed value. */
export const DEFAULT_PARALLEL_SESSIONS = 2;
export const MAX_PARALLEL_SESSIONS = 16;
