import type { S3Client } from '@aws-sdk/client-s3';
import type { AgentConfig } from '../config/schema.js';
import { classifyError, redactSecrets } from '../errors.js';
import { judgeListing } from '../pipeline/completion-detector.js';
import { nextStep, type FactName, type FolderFacts, type Verdict } from '../pipeline/next-step.js';
import { preflight } from '../pipeline/preflight.js';
import { completeKey } from '../pipeline/s3-keys.js';
import { headObject } from '../s3/objects.js';
import { ignoreMatcher } from '../share/ignore-patterns.js';
import { isEmptyFolder, processedCandidate } from '../share/processed-folder.js';
import { listSessionFiles, type SessionListing } from '../share/session-listing.js';
import { pathExists, type Share } from '../share/share.js';
import type { Db } from '../state/db.js';
import { deadHolderReason } from '../state/lease-holder.js';
import { findSessionIdOwner, type SessionIdOwner } from '../state/queries/claim-session-id.js';
import type { SessionRow } from '../state/session-row.js';

export interface ForeseeDeps {
  config: AgentConfig;
  db: Pick<Db, 'query' | 'kind'>;
  share: Share;
  /** Asked for a `_COMPLETE` already there; without it that check is left out. */
  s3?: S3Client;
  now: Date;
  signal: AbortSignal;
}

/**
 * What the folders foreseen before this one take, as a cycle going folder by folder would:
 * session_ids and `processed/` names.
 */
export interface Taken {
  owners: Map<string, SessionIdOwner>;
  targets: Set<string>;
}

export function nothingTaken(): Taken {
  return { owners: new Map(), targets: new Set() };
}

export interface FolderToForesee {
  folderPath: string;
  folderName: string;
  rootPath: string;
  profile: string;
}

/**
 * nextStep's verdict on one folder, reading only the facts it asks for, without writing
 * anything. `listing`: the folder as listed for the verdict, when it was listed.
 */
export async function foreseeFolder(
  deps: ForeseeDeps,
  folder: FolderToForesee,
  row: SessionRow | null,
  taken: Taken,
): Promise<{ verdict: Verdict; listing?: SessionListing }> {
  const { config, db, share, s3, now, signal } = deps;
  const profile = config.profiles[folder.profile];
  const facts: FolderFacts = {
    now,
    folderPath: folder.folderPath,
    row,
    rootWatched: config.watch.session_roots.some((r) => r.path === folder.rootPath),
    moveAfterUpload: config.agent.move_after_upload,
  };
  let listing: SessionListing | undefined;
  const list = async () => (listing ??= await listSessionFiles(share, folder.folderPath, ignoreMatcher(profile?.ignore_patterns ?? []), signal));
  const sessionId = () => (facts.preflight && 'sessionId' in facts.preflight ? facts.preflight.sessionId : '');
  const gather: { [K in FactName]: () => Promise<Exclude<FolderFacts[K], undefined>> } = {
    holderGone: async () => deadHolderReason(row?.leaseOwner ?? '', db.kind === 'pglite'),
    folderExists: () => pathExists(share, folder.folderPath, signal),
    completion: async () => judgeListing((await list()).files, profile?.required_markers ?? [], row ?? undefined, now, config.agent.stable_window_seconds),
    preflight: async () => {
      try {
        return { sessionId: (await preflight(share, config, folder, signal, await list())).sessionId };
      } catch (err) {
        // A problem no retry fixes is what the cycle marks needs_attention; a passing one is not a prediction.
        const e = classifyError(err);
        if (e.retryable) throw err;
        return { problem: e.message };
      }
    },
    owner: async () => taken.owners.get(sessionId()) ?? (await unlessNoSchema(findSessionIdOwner(db, sessionId()), null)),
    marker: async () => {
      if (!s3) return 'not_asked';
      const key = completeKey(config.upload.s3_prefix, sessionId());
      const head = await headObject(s3, config.upload.s3_bucket, key, AbortSignal.timeout(30_000)).catch(() => null);
      return head ? { key } : 'absent';
    },
    moveTo: () => moveTarget(share, folder, row, taken, signal),
  };
  for (;;) {
    const step = nextStep(facts);
    if ('need' in step) {
      await learn(facts, step.need, gather);
      continue;
    }
    if (step.sessionId && facts.owner === null) {
      taken.owners.set(step.sessionId, { pk: row?.pk ?? -taken.owners.size - 1, folderPath: folder.folderPath, status: 'uploading', manifestHash: null });
    }
    return listing ? { verdict: step, listing } : { verdict: step };
  }
}

export type Foreseen = Verdict | { action: 'unknown'; reason: string };

/**
 * The verdict on each recorded session (for `status`), in the order the cycle claims them.
 * One that cannot be judged now says why. `status` is what an operator runs when something
 * is wrong, so a share gets SHARE_ANSWER_MS per session (a hung kernel NFS mount never
 * answers), and after a passing error or silence the rest of that root is not asked again.
 */
export async function foreseeSessions(deps: ForeseeDeps, rows: readonly SessionRow[]): Promise<Map<number, Foreseen>> {
  const taken = nothingTaken();
  const unreachable = new Map<string, string>();
  const verdicts = new Map<number, Foreseen>();
  for (const row of [...rows].sort((a, b) => a.pk - b.pk)) {
    const down = unreachable.get(row.rootPath);
    if (down && row.status !== 'processed' && row.status !== 'dismissed') {
      verdicts.set(row.pk, { action: 'unknown', reason: `cannot tell now: ${down}` });
      continue;
    }
    try {
      verdicts.set(row.pk, (await withinDeadline(foreseeFolder(deps, row, row, taken), SHARE_ANSWER_MS)).verdict);
    } catch (err) {
      const e = classifyError(err);
      const message = redactSecrets(e.message);
      if (e.retryable) unreachable.set(row.rootPath, message);
      verdicts.set(row.pk, { action: 'unknown', reason: `cannot tell now: ${message}` });
    }
  }
  return verdicts;
}

const SHARE_ANSWER_MS = 10_000;

/** `work`, or ETIMEDOUT (a passing share error) once `ms` pass without its answer; the work itself is left to finish or hang. */
function withinDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`the share did not answer within ${ms / 1000} s`), { code: 'ETIMEDOUT' })), ms);
    timer.unref();
  });
  return Promise.race([work, silence]).finally(() => clearTimeout(timer));
}

async function learn<K extends FactName>(
  facts: FolderFacts,
  name: K,
  gather: { [N in FactName]: () => Promise<Exclude<FolderFacts[N], undefined>> },
): Promise<void> {
  facts[name] = await gather[name]();
}

/** Where the cycle's move would put the folder: its reserved name, or the first free `processed/` name (as reserveProcessedName picks it). */
async function moveTarget(share: Share, folder: FolderToForesee, row: SessionRow | null, taken: Taken, signal: AbortSignal): Promise<string> {
  if (row?.processedPath && (await isEmptyFolder(share, row.processedPath, signal))) return row.processedPath;
  for (let n = 0; ; n++) {
    const candidate = processedCandidate(folder.rootPath, folder.folderName, n);
    if (taken.targets.has(candidate) || (await pathExists(share, candidate, signal))) continue;
    taken.targets.add(candidate);
    return candidate;
  }
}

/** A database the agent never ran against has no tables yet: nothing is recorded. */
export function unlessNoSchema<T>(query: Promise<T>, empty: T): Promise<T> {
  return query.catch((err: { code?: string }) => {
    if (err.code === '42P01') return empty;
    throw err;
  });
}
