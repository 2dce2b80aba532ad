import type { S3Client } from '@aws-sdk/client-s3';
import type { Deps } from '../deps.js';
import { completeKey, manifestKey, objectKey } from '../pipeline/s3-keys.js';
import { scanRoots, type ScanResult } from '../share/scanner.js';
import { findActiveByFolders } from '../state/queries/operator.js';
import type { SessionRow } from '../state/session-row.js';
import { foreseeFolder, nothingTaken, unlessNoSchema, type ForeseeDeps, type Taken } from './foresee-folder.js';

type SessionFolder = ScanResult['folders'][number];

export interface PlannedSession {
  folder: string;
  status: string;
  action: 'upload' | 'wait' | 'move' | 'needs_attention' | 'retry_later' | 'skip' | 'none';
  reason: string;
  session_id?: string;
  files?: number;
  bytes?: number;
  keys?: string[];
  move_to?: string;
  lease_holder?: string;
  lease_expires_at?: string;
  /** The holder is gone: the cycle ends its lease and works the session now. */
  take_over?: string;
}

/**
 * What one cycle would do now, computed without writing anything: no observation is
 * recorded, nothing is uploaded or moved. Each folder gets nextStep's verdict (the
 * decision `status` shows too: held leases, the row's state, the completion detector, the
 * preflight, the session_id's owner, an existing `_COMPLETE` when S3 is given, the free
 * processed/ name), folder by folder in the order the cycle claims them. A folder seen for
 * the first time is reported as waiting, as the real first cycle would.
 */
export async function planCycle(
  deps: Pick<Deps, 'config' | 'db' | 'share'>,
  now: Date,
  signal: AbortSignal,
  s3?: S3Client,
): Promise<{ plan: PlannedSession[]; rootErrors: { root: string; message: string }[] }> {
  const { config, db, share } = deps;
  const scan = await scanRoots(share, config.watch.session_roots, signal);
  const paths = scan.folders.map((f) => f.folderPath);
  const rows = await unlessNoSchema(findActiveByFolders(db, paths), new Map<string, SessionRow>());
  // The cycle claims recorded sessions oldest row first; new folders only get recorded.
  const order = (f: SessionFolder) => rows.get(f.folderPath)?.pk ?? Number.MAX_SAFE_INTEGER;
  const folders = [...scan.folders].sort((a, b) => order(a) - order(b));
  const taken = nothingTaken();
  const plan: PlannedSession[] = [];
  for (const folder of folders)
    plan.push(await planFolder({ config, db, share, now, signal, ...(s3 ? { s3 } : {}) }, folder, rows.get(folder.folderPath) ?? null, taken));
  return {
    plan: scan.folders.map((f) => plan.find((p) => p.folder === f.folderPath) as PlannedSession),
    rootErrors: scan.rootErrors.map((e) => ({ root: e.root, message: e.message })),
  };
}

async function planFolder(deps: ForeseeDeps, folder: SessionFolder, row: SessionRow | null, taken: Taken): Promise<PlannedSession> {
  const { verdict, listing } = await foreseeFolder(deps, folder, row, taken);
  const held =
    row?.leaseOwner && row.leaseExpiresAt && row.leaseExpiresAt >= deps.now
      ? { lease_holder: row.leaseOwner, lease_expires_at: row.leaseExpiresAt.toISOString() }
      : {};
  const planned: PlannedSession = {
    folder: folder.folderPath,
    status: row?.status ?? 'new',
    ...held,
    ...(verdict.takeOver ? { take_over: verdict.takeOver } : {}),
    action: verdict.action,
    reason: verdict.reason,
    ...(verdict.sessionId ? { session_id: verdict.sessionId } : {}),
    ...(verdict.moveTo ? { move_to: verdict.moveTo } : {}),
  };
  if (verdict.action === 'wait' && listing) planned.files = listing.files.length;
  if (verdict.action !== 'upload' || !listing || !verdict.sessionId) return planned;
  const prefix = deps.config.upload.s3_prefix;
  const sessionId = verdict.sessionId;
  return {
    ...planned,
    files: listing.files.length,
    bytes: listing.files.reduce((n, f) => n + f.size, 0),
    keys: [...listing.files.map((f) => objectKey(prefix, sessionId, f.relativePath)), manifestKey(prefix, sessionId), completeKey(prefix, sessionId)],
  };
}

export function formatPlan(result: { plan: PlannedSession[]; rootErrors: { root: string; message: string }[] }): string {
  const lines = ['dry run: nothing is written to S3, the share or the state database', ''];
  for (const e of result.rootErrors) lines.push(`ROOT UNAVAILABLE  ${e.root}: ${e.message}`);
  for (const p of result.plan) {
    lines.push(`${p.action.toUpperCase().padEnd(16)} ${p.folder}  [${p.status}]  ${p.reason}`);
    if (p.action === 'upload') {
      lines.push(`                 session_id ${p.session_id}: ${p.files} files, ${p.bytes} bytes`);
      const keys = p.keys ?? [];
      for (const k of keys.length > 6 ? [...keys.slice(0, 3), `… ${keys.length - 5} more …`, ...keys.slice(-2)] : keys) lines.push(`                   ${k}`);
    }
    if (p.move_to) lines.push(`                 then move to ${p.move_to}`);
    if (p.take_over) lines.push(`                 lease of ${p.lease_holder} (until ${p.lease_expires_at}) taken over: ${p.take_over}`);
  }
  if (result.plan.length === 0) lines.push('no session folders found');
  return `${lines.join('\n')}\n`;
}
