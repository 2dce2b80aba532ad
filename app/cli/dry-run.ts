import type { Deps } from '../deps.js';
import { judgeListing } from '../pipeline/completion-detector.js';
import { ignoreMatcher } from '../share/ignore-patterns.js';
import { objectKey, completeKey, manifestKey } from '../pipeline/s3-keys.js';
import { scanRoots } from '../share/scanner.js';
import { resolveSessionId } from '../pipeline/session-id.js';
import { listSessionFiles } from '../share/session-listing.js';
import { contentProblem, keyProblem } from '../pipeline/content-checks.js';
import { findActiveByFolders } from '../state/queries/operator.js';
import { processedCandidate } from '../share/processed-folder.js';
import { deadHolderReason } from '../state/lease-holder.js';

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
 * recorded, nothing is uploaded or moved. A folder seen for the first time is reported as
 * waiting, as the real first cycle would.
 */
export async function planCycle(deps: Pick<Deps, 'config' | 'db' | 'share'>, now: Date): Promise<{ plan: PlannedSession[]; rootErrors: { root: string; message: string }[] }> {
  const { config, db, share } = deps;
  const scan = await scanRoots(share, config.watch.session_roots);
  // A database the agent never ran against has no tables yet: every folder is new.
  const rows = await findActiveByFolders(
    db,
    scan.folders.map((f) => f.folderPath),
  ).catch((err: { code?: string }) => {
    if (err.code === '42P01') return new Map<string, never>();
    throw err;
  });
  const plan: PlannedSession[] = [];
  for (const folder of scan.folders) {
    const row = rows.get(folder.folderPath);
    const status = row?.status ?? 'new';
    const held = row?.leaseOwner && row.leaseExpiresAt && row.leaseExpiresAt >= now ? { lease_holder: row.leaseOwner, lease_expires_at: row.leaseExpiresAt.toISOString() } : {};
    const dead = held.lease_holder ? deadHolderReason(held.lease_holder, db.kind === 'pglite') : null;
    const base = { folder: folder.folderPath, status, ...held, ...(dead ? { take_over: dead } : {}) };
    if (held.lease_holder && !dead) {
      plan.push({ ...base, action: 'skip', reason: `another agent is working on it: ${held.lease_holder} holds it until ${held.lease_expires_at}` });
      continue;
    }
    if (row?.status === 'needs_attention') {
      plan.push({ ...base, action: 'none', reason: row.lastError ?? 'needs attention' });
      continue;
    }
    if (row?.status === 'uploaded') {
      plan.push(
        config.agent.move_after_upload
          ? { ...base, action: 'move', reason: 'uploaded; move pending', move_to: processedCandidate(folder.rootPath, folder.folderName, 0) }
          : { ...base, action: 'none', reason: 'uploaded (move_after_upload is off)' },
      );
      continue;
    }
    if (row?.status === 'failed' && row.nextAttemptAt && row.nextAttemptAt > now) {
      plan.push({ ...base, action: 'retry_later', reason: `retry at ${row.nextAttemptAt.toISOString()}: ${row.lastError ?? ''}` });
      continue;
    }
    const profile = config.profiles[folder.profile];
    const listing = await listSessionFiles(share, folder.folderPath, ignoreMatcher(profile?.ignore_patterns ?? []));
    if (status === 'new' || status === 'waiting_for_stable') {
      const decision = judgeListing(listing.files, profile?.required_markers ?? [], row, now, config.agent.stable_window_seconds);
      if (!decision.complete) {
        plan.push({ ...base, action: 'wait', reason: decision.reason, files: listing.files.length });
        continue;
      }
    }
    const problem = contentProblem(listing);
    if (problem) {
      plan.push({ ...base, action: 'needs_attention', reason: problem });
      continue;
    }
    let sessionId: string;
    try {
      sessionId = (await resolveSessionId(share, folder.folderPath, folder.folderName, profile?.metadata_files ?? [])).sessionId;
    } catch (err) {
      plan.push({ ...base, action: 'needs_attention', reason: (err as Error).message });
      continue;
    }
    const prefix = config.upload.s3_prefix;
    const keyTrouble = keyProblem(prefix, sessionId, listing);
    if (keyTrouble) {
      plan.push({ ...base, action: 'needs_attention', reason: keyTrouble });
      continue;
    }
    plan.push({
      ...base,
      action: 'upload',
      reason: 'complete and stable',
      session_id: sessionId,
      files: listing.files.length,
      bytes: listing.files.reduce((n, f) => n + f.size, 0),
      keys: [...listing.files.map((f) => objectKey(prefix, sessionId, f.relativePath)), manifestKey(prefix, sessionId), completeKey(prefix, sessionId)],
      ...(config.agent.move_after_upload ? { move_to: processedCandidate(folder.rootPath, folder.folderName, 0) } : {}),
    });
  }
  return { plan, rootErrors: scan.rootErrors.map((e) => ({ root: e.root, message: e.message })) };
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
