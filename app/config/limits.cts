// CommonJS so that the launcher (app/cli/uploader-agent.cts) can use it before any ES module loads.

/** `upload.concurrency` when the configuration does not set it, and its largest allowed value. */
export const DEFAULT_CONCURRENCY = 8;
export const MAX_CONCURRENCY = 64;

/** `upload.parallel_sessions` when the configuration does not set it, and its largest allowed value. */
export const DEFAULT_PARALLEL_SESSIONS = 2;
export const MAX_PARALLEL_SESSIONS = 16;
