import type { Logger } from '../logging/logger.js';

/** Logs `upload_progress` (bytes done/total, rate, ETA) at most every `everyMs` while a session uploads. */
export function uploadProgress(logger: Logger, totalBytes: number, everyMs = 5000) {
  const started = Date.now();
  let done = 0;
  let lastLog = started;
  return {
    add(bytes: number): void {
      done += bytes;
      const now = Date.now();
      if (now - lastLog < everyMs) return;
      lastLog = now;
      const rate = done / Math.max((now - started) / 1000, 0.001);
      logger.info(
        {
          event: 'upload_progress',
          bytes_done: done,
          bytes_total: totalBytes,
          percent: totalBytes > 0 ? Math.round((done / totalBytes) * 1000) / 10 : 100,
          rate_mb_s: Math.round((rate / 1e6) * 10) / 10,
          eta_seconds: rate > 0 ? Math.round((totalBytes - done) / rate) : null,
        },
        'upload progress',
      );
    },
  };
}
