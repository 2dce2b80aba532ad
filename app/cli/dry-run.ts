import type { S3Client } from '@aws-sdk/client-s3';
import type { AgentConfig } from '../config/schema.js';
import type { Deps } from '../deps.js';
import { classifyError } from '../errors.js';
import { judgeListing } from '../pipeline/completion-detector.js';
import { ignoreMatcher } from '../share/ignore-patterns.js';
import { isEmptyFolder, processedCandidate } from '../share/processed-folder.js';
import { pathExists, type Share } from '../share/share.js';
import { ownerDecision, preflight } from '../pipeline/preflight.js';
import { completeKey, manifestKey, objectKey } from '../pipeline/s3-keys.js';
import { scanRoots, type ScanResult } from '../share/scanner.js';

type SessionFolder = ScanResult['folders'][number];
import { listSessionFiles } from '../share/session-listing.js';
import { headObject } from '../s3/objects.js';
import type { Db } from '../state/db.js';
import { deadHolderReason } from '../state/lease-holder.js';
import { findSessionIdOwner, type SessionIdOwner } from '../state/queries/claim-session-id.js';
import { findActiveByFolders } from '../state/queries/operator.js';
import type { SessionRow } from '../state/session-row.js';

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

/** What the folders planned before this one have taken: session_ids and processed/ names. */
interface Planned {
  owners: Map<string, SessionIdOwner>;
  targets: Set<string>;
}

/**
 * What one cycle would do now, computed without writing anything: no observation is
 * recorded, nothing is uploaded or moved. It asks the same checks as the cycle (preflight,
 * the session_id's owner, an existing `_COMPLETE` when S3 is given, held leases, the free
 * processed/ name), folder by folder in the order the cycle claims them. A folder seen for
 * the first time is reported as waiting, as the real first cycle would.
 */
export async function planCycle(deps: Pick<Deps, 'config' | 'db' | 'share'>, now: Date, s3?: S3Client): Promise<{ plan: PlannedSession[]; rootErrors: { root: string; message: string }[] }> {
  const { config, db, share } = deps;
  const scan = await scanRoots(share, config.watch.session_roots);
  const paths = scan.folders.map((f) => f.folderPath);
  const rows = await unlessNoSchema(findActiveByFolders(db, paths), new Map<string, SessionRow>());
  // The cycle claims recorded sessions oldest row first; new folders only get recorded.
  const order = (f: SessionFolder) => rows.get(f.folderPath)?.pk ?? Number.MAX_SAFE_INTEGER;
  const folders = [...scan.folders].sort((a, b) => order(a) - order(b));
  const planned: Planned = { owners: new Map(), targets: new Set() };
  const plan: PlannedSession[] = [];
  for (const folder of folders) plan.push(await planFolder({ config, db, share }, now, s3, folder, rows.get(folder.folderPath), planned));
  return { plan: scan.folders.map((f) => plan.find((p) => p.folder === f.folderPath) as PlannedSession), rootErrors: scan.rootErrors.map((e) => ({ root: e.root, message: e.message })) };
}

async function planFolder({ config, db, share }: { config: AgentConfig; db: Db; share: Share }, now: Date, s3: S3Client | undefined, folder: SessionFolder, row: SessionRow | undefined, planned: Planned): Promise<PlannedSession> {
  const status = row?.status ?? 'new';
  const held = row?.leaseOwner && row.leaseExpiresAt && row.leaseExpiresAt >= now ? { lease_holder: row.leaseOwner, lease_expires_at: row.leaseExpiresAt.toISOString() } : {};
  const dead = held.lease_holder ? deadHolderReason(held.lease_holder, db.kind === 'pglite') : null;
  const base = { folder: folder.folderPath, status, ...held, ...(dead ? { take_over: dead } : {}) };
  if (held.lease_holder && !dead) return { ...base, action: 'skip', reason: `another agent is working on it: ${held.lease_holder} holds it until ${held.lease_expires_at}` };
  if (row?.status === 'needs_attention') return { ...base, action: 'none', reason: row.lastError ?? 'needs attention' };
  if (row?.status === 'uploaded') {
    if (!config.agent.move_after_upload) return { ...base, action: 'none', reason: 'uploaded (move_after_upload is off)' };
    return { ...base, action: 'move', reason: 'uploaded; move pending', move_to: await moveTarget(share, folder, row, planned) };
  }
  if (row?.status === 'failed' && row.nextAttemptAt && row.nextAttemptAt > now) {
    return { ...base, action: 'retry_later', reason: `retry at ${row.nextAttemptAt.toISOString()}: ${row.lastError ?? ''}` };
  }
  const profile = config.profiles[folder.profile];
  const listing = await listSessionFiles(share, folder.folderPath, ignoreMatcher(profile?.ignore_patterns ?? []));
  if (status === 'new' || status === 'waiting_for_stable') {
    const decision = judgeListing(listing.files, profile?.required_markers ?? [], row, now, config.agent.stable_window_seconds);
    if (!decision.complete) return { ...base, action: 'wait', reason: decision.reason, files: listing.files.length };
  }
  let sessionId: string;
  try {
    sessionId = (await preflight(share, config, folder, listing)).sessionId;
  } catch (err) {
    return { ...base, action: 'needs_attention', reason: classifyError(err).message };
  }
  const owner = planned.owners.get(sessionId) ?? (await unlessNoSchema(findSessionIdOwner(db, sessionId), null));
  const decision = ownerDecision(row?.pk ?? null, folder.folderPath, sessionId, owner);
  if (decision.go === 'collision') return { ...base, session_id: sessionId, action: 'needs_attention', reason: decision.message };
  if (!owner) planned.owners.set(sessionId, { pk: row?.pk ?? -planned.owners.size - 1, folderPath: folder.folderPath, status: 'uploading', manifestHash: null });
  const moveTo = config.agent.move_after_upload ? { move_to: await moveTarget(share, folder, row, planned) } : {};
  if (decision.go === 'duplicate_if_identical') {
    return { ...base, session_id: sessionId, action: 'move', reason: `session_id already uploaded from ${decision.of}: not uploaded again if the manifest is identical, else needs_attention`, ...moveTo };
  }
  const prefix = config.upload.s3_prefix;
  const marker = s3 ? await headObject(s3, config.upload.s3_bucket, completeKey(prefix, sessionId), AbortSignal.timeout(30_000)).catch(() => null) : null;
  if (marker) {
    return { ...base, session_id: sessionId, action: 'move', reason: `${completeKey(prefix, sessionId)} is already in S3: not uploaded again if its manifest is this folder's, else needs_attention`, ...moveTo };
  }
  return {
    ...base,
    action: 'upload',
    reason: 'complete and stable',
    session_id: sessionId,
    files: listing.files.length,
    bytes: listing.files.reduce((n, f) => n + f.size, 0),
    keys: [...listing.files.map((f) => objectKey(prefix, sessionId, f.relativePath)), manifestKey(prefix, sessionId), completeKey(prefix, sessionId)],
    ...moveTo,
  };
}

/** Where the cycle's move would put the folder: its reserved name, or the first free `processed/` name (as reserveProcessedName picks it). */
async function moveTarget(share: Share, folder: SessionFolder, row: SessionRow | undefined, planned: Planned): Promise<string> {
  if (row?.processedPath && (await isEmptyFolder(share, row.processedPath))) return row.processedPath;
  for (let n = 0; ; n++) {
    const candidate = processedCandidate(folder.rootPath, folder.folderName, n);
    if (planned.targets.has(candidate) || (await pathExists(share, candidate))) continue;
    planned.targets.add(candidate);
    return candidate;
  }
}

/** A database the agent never ran against has no tables yet: nothing is recorded. */
function unlessNoSchema<T>(query: Promise<T>, empty: T): Promise<T> {
  return query.catch((err: { code?: string }) => {
    if (err.code === '42P01') return empty;
    throw err;
  });
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
