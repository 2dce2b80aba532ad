import { humanBytes } from './human-bytes.js';

interface Line {
  event?: string;
  session_id?: string;
  files?: number;
  bytes?: number;
  bytes_done?: number;
  bytes_total?: number;
  percent?: number;
  rate_mb_s?: number;
  eta_seconds?: number | null;
  to?: string;
  reason?: string;
}

/**
 * A pino stream for a person at a terminal: one live line (rewritten in place) with the latest
 * progress of an uploading session, named on it (two sessions uploaded at once take turns),
 * then a final line when a session lands or fails. The JSON log lines are unchanged.
 */
export function terminalProgress(out: NodeJS.WritableStream): { write(chunk: string): boolean } {
  let live = false;
  const render = (text: string, final: boolean) => {
    out.write(`\r\x1b[K${text}${final ? '\n' : ''}`);
    live = !final;
  };
  return {
    write(chunk: string) {
      let e: Line;
      try {
        e = JSON.parse(chunk) as Line;
      } catch {
        return true;
      }
      const id = e.session_id ?? '';
      switch (e.event) {
        case 'upload_started':
          render(`${id}  uploading ${e.files} files, ${humanBytes(e.bytes ?? 0)}`, false);
          break;
        case 'upload_progress':
          render(
            `${id}  ${e.percent}%  ${humanBytes(e.bytes_done ?? 0)} of ${humanBytes(e.bytes_total ?? 0)}  ${e.rate_mb_s} MB/s${e.eta_seconds != null ? `  ETA ${e.eta_seconds}s` : ''}`,
            false,
          );
          break;
        case 'complete_marker_uploaded':
          render(`${id}  landed (_COMPLETE written)`, true);
          break;
        case 'session_failed':
        case 'session_changed':
          render(`${id || 'session'}  ${e.to ?? 'failed'}${e.reason ? `: ${e.reason}` : ''}`, true);
          break;
        default:
          if (live && e.event === 'cycle_completed') render('', true);
      }
      return true;
    },
  };
}
