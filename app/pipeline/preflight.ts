import type { AgentConfig, Profile } from '../config/schema.js';
import { sessionProblem } from '../errors.js';
import type { SessionIdOwner } from '../state/queries/claim-session-id.js';
import { contentProblem, keyProblem } from './content-checks.js';
import { ignoreMatcher } from '../share/ignore-patterns.js';
import type { Share } from '../share/share.js';
import { resolveSessionId } from './session-id.js';
import { listSessionFiles, type SessionListing } from '../share/session-listing.js';

export interface Preflight {
  listing: SessionListing;
  sessionId: string;
}

/**
 * What must hold before any byte of a folder goes to S3: its listing, no reserved or invalid
 * names, a valid session_id, every key within S3's limit. The cycle, the dry run, `status`
 * and print-manifest all ask here; a problem is a session problem (needs_attention).
 * `judged`: the listing the folder was just found stable on (otherwise it is listed now).
 * `onSessionId` hears the session_id as soon as it is resolved.
 */
export async function preflight(
  share: Share,
  config: AgentConfig,
  folder: { folderPath: string; folderName: string; profile: string },
  signal: AbortSignal,
  judged?: SessionListing,
  onSessionId?: (sessionId: string) => void,
): Promise<Preflight> {
  const profile = config.profiles[folder.profile];
  if (!profile) throw sessionProblem('UNKNOWN_PROFILE', `profile "${folder.profile}" is no longer in the configuration`);
  return preflightWithProfile(share, config.upload.s3_prefix, profile, folder, signal, judged, onSessionId);
}

/** The same checks under a profile given as it is: print-manifest's folder may lie in no root, so under no profile. */
export async function preflightWithProfile(
  share: Share,
  s3Prefix: string,
  profile: Profile,
  folder: { folderPath: string; folderName: string },
  signal: AbortSignal,
  judged?: SessionListing,
  onSessionId?: (sessionId: string) => void,
): Promise<Preflight> {
  const listing = judged ?? (await listSessionFiles(share, folder.folderPath, ignoreMatcher(profile.ignore_patterns), signal));
  const problem = contentProblem(listing);
  if (problem) throw sessionProblem('RESERVED_OR_INVALID_NAME', problem);
  const { sessionId } = await resolveSessionId(share, folder.folderPath, folder.folderName, profile.metadata_files, signal);
  // Known from here on, also to the lines about a problem found next.
  onSessionId?.(sessionId);
  const keyTrouble = keyProblem(s3Prefix, sessionId, listing);
  if (keyTrouble) throw sessionProblem('KEY_TOO_LONG', keyTrouble);
  return { listing, sessionId };
}

export type OwnerDecision = { go: 'upload' } | { go: 'duplicate_if_identical'; of: string } | { go: 'collision'; message: string };

/**
 * What the session_id's recorded owner means for this folder: its own (upload), another
 * folder's finished upload (a duplicate when the manifests are identical, else a collision),
 * or another folder still in play (a collision). The cycle decides here, and so does nextStep
 * for the dry run and `status`.
 */
export function ownerDecision(pk: number | null, folderPath: string, sessionId: string, owner: SessionIdOwner | null): OwnerDecision {
  if (!owner || owner.pk === pk) return { go: 'upload' };
  if (owner.status === 'uploaded' || owner.status === 'processed') return { go: 'duplicate_if_identical', of: owner.folderPath };
  return { go: 'collision', message: collisionMessage(folderPath, sessionId, owner) };
}

/** The message for a folder whose manifest differs from the one already uploaded under its session_id. */
export function collisionMessage(folderPath: string, sessionId: string, owner: SessionIdOwner): string {
  return `session_id ${sessionId} is already recorded for folder ${owner.folderPath} (status ${owner.status}); this folder ${folderPath} was not uploaded. Give one of them another session_id (or, if that folder is gone, dismiss its record), then run retry.`;
}
