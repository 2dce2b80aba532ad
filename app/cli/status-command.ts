import { humanBytes } from '../logging/human-bytes.js';
import type { SessionRow } from '../state/session-row.js';
import type { SessionEvent } from '../state/queries/operator.js';
import type { FileRecord } from '../state/queries/file-records.js';

/** What the next cycle will do with a session (nextStep's verdict), as `status` shows it. */
export interface NextStepView {
  action: string;
  reason: string;
}

export function sessionJson(s: SessionRow, next?: NextStepView) {
  return {
    id: s.sessionId ?? s.folderName,
    row: s.pk,
    status: s.status,
    path: s.folderPath,
    processed_path: s.processedPath,
    files: s.fileCount,
    bytes: s.totalBytes,
    retries: retriesStarted(s),
    failed_attempts: s.attempts,
    next_attempt_at: s.nextAttemptAt?.toISOString() ?? null,
    last_error: s.lastError,
    lease_holder: s.leaseOwner,
    lease_expires_at: s.leaseExpiresAt?.toISOString() ?? null,
    dismissed: s.dismissedAt ? { by: s.dismissedBy, reason: s.dismissedReason, at: s.dismissedAt.toISOString() } : null,
    manifest_hash: s.manifestHash,
    discovered_at: s.discoveredAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
    uploaded_at: s.uploadedAt?.toISOString() ?? null,
    processed_at: s.processedAt?.toISOString() ?? null,
    ...(next ? { next: { action: next.action, reason: next.reason } } : {}),
  };
}

/**
 * Retries begun after the first attempt, the count `upload.max_retries` limits: `attempts`
 * counts failed attempts, and a failed session's latest failure has not been retried yet.
 */
export function retriesStarted(s: Pick<SessionRow, 'attempts' | 'status'>): number {
  return s.status === 'failed' || s.status === 'needs_attention' ? Math.max(0, s.attempts - 1) : s.attempts;
}

/** One table cell: a newline or other control character in a folder name must not break the row. */
export function cell(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

export function formatTable(sessions: SessionRow[], now: Date, columns: { maxRetries: number; next: ReadonlyMap<number, NextStepView> }): string {
  const rows = sessions.map((s) =>
    [
      s.sessionId ?? s.folderName,
      s.status,
      age(now.getTime() - s.discoveredAt.getTime()),
      s.fileCount === null ? '-' : String(s.fileCount),
      s.totalBytes === null ? '-' : humanBytes(s.totalBytes),
      `${retriesStarted(s)}/${columns.maxRetries}`,
      s.status === 'failed' && s.nextAttemptAt ? s.nextAttemptAt.toISOString().replace(/\.\d+Z$/, 'Z') : '-',
      columns.next.get(s.pk)?.reason ?? '',
      leaseText(s, now),
      s.processedPath ?? s.folderPath,
    ].map(cell),
  );
  const header = ['SESSION', 'STATUS', 'AGE', 'FILES', 'SIZE', 'RETRIES', 'NEXT RETRY', 'NEXT', 'HELD BY', 'PATH'];
  // NEXT is the column an operator reads: what will happen, and what to do about it.
  const widths = header.map((h, i) => Math.min(h === 'NEXT' ? 100 : 60, Math.max(h.length, ...rows.map((r) => (r[i] as string).length))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : truncate(c, widths[i] as number).padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export function formatHistory(s: SessionRow, events: SessionEvent[], files: FileRecord[], next?: NextStepView): string {
  const lines = [`session ${cell(s.sessionId ?? s.folderName)} (row ${s.pk}): ${s.status}`];
  if (next) lines.push(`  next: ${cell(next.reason)}`);
  lines.push(`  folder: ${cell(s.folderPath)}`);
  if (s.processedPath) lines.push(`  processed: ${cell(s.processedPath)}`);
  if (s.dismissedAt) lines.push(`  dismissed: ${s.dismissedAt.toISOString()} by ${cell(s.dismissedBy ?? '?')}: ${cell(s.dismissedReason ?? '')}`);
  if (s.lastError) lines.push(`  last error: ${cell(s.lastError)}`);
  if (s.leaseOwner && s.leaseExpiresAt) lines.push(`  lease: held by ${cell(s.leaseOwner)} until ${s.leaseExpiresAt.toISOString()}`);
  lines.push('  history:');
  for (const e of events) lines.push(`    ${e.at.toISOString()}  ${e.from ?? '-'} → ${e.to}  ${cell(e.reason ?? '')}  (${e.agentId})`);
  if (files.length > 0) {
    const uploaded = files.filter((f) => f.status === 'uploaded').length;
    lines.push(`  files: ${uploaded} of ${files.length} uploaded`);
    for (const f of files.slice(0, 50))
      lines.push(`    ${f.status.padEnd(8)}  ${humanBytes(f.size).padStart(10)}  ${f.sha256 ?? ''.padEnd(64)}  ${cell(f.relativePath)}`);
    if (files.length > 50) lines.push(`    … ${files.length - 50} more (status --json has them all)`);
  }
  return `${lines.join('\n')}\n`;
}

/** Who is working on the session now, and until when their claim lasts without a heartbeat. */
function leaseText(s: SessionRow, now: Date): string {
  if (!s.leaseOwner || !s.leaseExpiresAt || s.leaseExpiresAt < now) return '-';
  return `${s.leaseOwner} until ${s.leaseExpiresAt.toISOString().replace(/\.\d+Z$/, 'Z')}`;
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}
