import { createHash } from 'node:crypto';
import type { SessionFile } from '../share/session-listing.js';

/**
 * The folder's observed state: file count, total size, newest mtime, and a digest of every
 * (path, size, mtime, and NFSv4 change attribute where the share has one) so that any change
 * to any file shows, not only changes to the totals. Without a change attribute the digest
 * is what it always was, so states recorded before stay comparable.
 */
export function observedState(files: readonly SessionFile[]): string {
  let bytes = 0;
  let newest = 0n;
  const digest = createHash('sha256');
  for (const f of files) {
    bytes += f.size;
    if (f.mtimeNs > newest) newest = f.mtimeNs;
    digest.update(f.change === null ? `${f.relativePath}\0${f.size}\0${f.mtimeNs}\n` : `${f.relativePath}\0${f.size}\0${f.mtimeNs}\0${f.change}\n`);
  }
  return `${files.length}:${bytes}:${newest}:${digest.digest('hex').slice(0, 32)}`;
}

export interface CompletionInput {
  requiredMarkers: readonly string[];
  presentPaths: ReadonlySet<string>;
  fileCount: number;
  current: string;
  previous: { state: string; since: Date } | null;
  now: Date;
  stableWindowSeconds: number;
}

export interface CompletionDecision {
  complete: boolean;
  /** Why not complete yet (empty when complete). */
  reason: string;
  /** When the current state was first seen: the start of the stability window. */
  since: Date;
  /** Seconds until another observation could complete it (markers present); null when that depends on the lab PC. */
  recheckAfterSeconds: number | null;
}

/**
 * Complete when every marker exists and the state is unchanged across observations at
 * least the window apart (window 0: two consecutive equal observations). The first
 * observation is never complete.
 */
export function decideCompletion(input: CompletionInput): CompletionDecision {
  const unchanged = input.previous !== null && input.previous.state === input.current;
  const since = unchanged ? (input.previous as { since: Date }).since : input.now;
  const missing = input.requiredMarkers.filter((m) => !input.presentPaths.has(m));
  if (input.fileCount === 0) return { complete: false, reason: 'folder has no files yet', since, recheckAfterSeconds: null };
  if (missing.length > 0) return { complete: false, reason: `waiting for marker files: ${missing.join(', ')}`, since, recheckAfterSeconds: null };
  if (!unchanged) {
    const reason = input.previous === null ? 'first observation' : 'folder changed since the last observation';
    return { complete: false, reason, since, recheckAfterSeconds: input.stableWindowSeconds };
  }
  const elapsed = (input.now.getTime() - since.getTime()) / 1000;
  // With window 0 two equal observations suffice, even when the agent that made the first
  // one had a clock slightly ahead of ours.
  if (input.stableWindowSeconds > 0 && elapsed < input.stableWindowSeconds) {
    return {
      complete: false,
      reason: `unchanged for ${Math.floor(elapsed)}s of ${input.stableWindowSeconds}s`,
      since,
      recheckAfterSeconds: input.stableWindowSeconds - elapsed,
    };
  }
  return { complete: true, reason: '', since, recheckAfterSeconds: null };
}

/**
 * The decision for a folder listed now, against what was recorded at the previous
 * observation (`observedState`/`observedSince` of its row). One place for the scheduler's
 * batch observation, the one-at-a-time path and the dry run.
 */
export function judgeListing(
  files: readonly SessionFile[],
  requiredMarkers: readonly string[],
  recorded: { observedState: string | null; observedSince: Date | null } | undefined,
  now: Date,
  stableWindowSeconds: number,
): CompletionDecision & { state: string } {
  const state = observedState(files);
  const decision = decideCompletion({
    requiredMarkers,
    presentPaths: presentMarkers(files, requiredMarkers),
    fileCount: files.length,
    current: state,
    previous: recorded?.observedState && recorded.observedSince ? { state: recorded.observedState, since: recorded.observedSince } : null,
    now,
    stableWindowSeconds,
  });
  return { ...decision, state };
}

/** Which of the required markers the listing has: a set of a few names, not of every file's path. */
function presentMarkers(files: readonly SessionFile[], requiredMarkers: readonly string[]): Set<string> {
  const wanted = new Set(requiredMarkers);
  const present = new Set<string>();
  if (wanted.size === 0) return present;
  for (const f of files) if (wanted.has(f.relativePath)) present.add(f.relativePath);
  return present;
}
