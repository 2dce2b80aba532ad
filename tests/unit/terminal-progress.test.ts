import { describe, expect, it } from 'vitest';
import { terminalProgress } from '../../app/logging/terminal-progress.js';

function capture() {
  let text = '';
  return { out: { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream, text: () => text };
}

describe('live progress at a terminal', () => {
  it('rewrites one line while a session uploads, and ends it when the session lands', () => {
    const c = capture();
    const t = terminalProgress(c.out);
    t.write(JSON.stringify({ event: 'upload_started', session_id: 'S-1', files: 3, bytes: 3 * 1024 * 1024 }));
    t.write(
      JSON.stringify({ event: 'upload_progress', session_id: 'S-1', percent: 50, bytes_done: 1572864, bytes_total: 3145728, rate_mb_s: 12.5, eta_seconds: 1 }),
    );
    t.write(JSON.stringify({ event: 'upload_file_succeeded', session_id: 'S-1' }));
    t.write(JSON.stringify({ event: 'complete_marker_uploaded', session_id: 'S-1' }));
    t.write('not json');
    expect(c.text()).toBe(
      '\r\x1b[KS-1  uploading 3 files, 3.0 MiB' + '\r\x1b[KS-1  50%  1.5 MiB of 3.0 MiB  12.5 MB/s  ETA 1s' + '\r\x1b[KS-1  landed (_COMPLETE written)\n',
    );
  });

  it('ends the line with the reason when a session fails', () => {
    const c = capture();
    const t = terminalProgress(c.out);
    t.write(JSON.stringify({ event: 'upload_started', session_id: 'S-2', files: 1, bytes: 10 }));
    t.write(JSON.stringify({ event: 'session_failed', session_id: 'S-2', to: 'failed' }));
    expect(c.text().endsWith('\r\x1b[KS-2  failed\n')).toBe(true);
  });
});
