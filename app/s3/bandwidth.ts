import { abortableDelay } from '../clock.js';

export interface BandwidthWindow {
  /** "HH:MM" in the agent's timezone; a window whose end is before its start spans midnight. */
  start: string;
  end: string;
  /** null: no limit during the window. */
  max_bytes_per_second: number | null;
}

export interface BandwidthSettings {
  max_bytes_per_second?: number | undefined;
  bandwidth_windows?: readonly BandwidthWindow[] | undefined;
}

/**
 * The limit in force at `now`: the first window that contains the time of day (in `timeZone`),
 * else `max_bytes_per_second`; null for no limit.
 */
export function bandwidthAt(settings: BandwidthSettings, now: Date, timeZone: string): number | null {
  const windows = settings.bandwidth_windows ?? [];
  if (windows.length > 0) {
    const minute = minuteOfDay(now, timeZone);
    for (const w of windows) {
      const start = hhmm(w.start);
      const end = hhmm(w.end);
      const inside = start <= end ? minute >= start && minute < end : minute >= start || minute < end;
      if (inside) return w.max_bytes_per_second;
    }
  }
  return settings.max_bytes_per_second ?? null;
}

function hhmm(s: string): number {
  const [h, m] = s.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

function minuteOfDay(now: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(now);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return get('hour') * 60 + get('minute');
}

/**
 * A token bucket shared by every transfer of the process (virtual scheduling: each request
 * books its bytes on a timeline advancing at the allowed rate, and waits until its booking is
 * paid, so requests in flight at once share the rate). A request is one body (a whole small
 * file or one part), so the rate holds over any interval longer than one part's worth; there
 * is no burst allowance, so idle time is never "saved up" and spent above the limit later.
 */
export class BandwidthLimiter {
  private paidUntil = 0;

  constructor(
    private readonly rateAt: () => number | null,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  /** Waits until `bytes` may be sent under the limit in force now. */
  async take(bytes: number, signal: AbortSignal): Promise<void> {
    const rate = this.rateAt();
    if (rate === null || rate <= 0 || bytes <= 0) return;
    const now = this.nowMs();
    this.paidUntil = Math.max(this.paidUntil, now) + (bytes / rate) * 1000;
    const wait = this.paidUntil - now;
    if (wait > 1) await abortableDelay(wait, signal);
  }
}

/** The process's limiter for the configured limits; null when none is configured. */
export function bandwidthLimiterFor(upload: BandwidthSettings, timeZone: string): BandwidthLimiter | null {
  if (upload.max_bytes_per_second === undefined && (upload.bandwidth_windows ?? []).length === 0) return null;
  return new BandwidthLimiter(() => bandwidthAt(upload, new Date(), timeZone));
}
