import type { Deps } from '../deps.js';
import { SessionChangedError, sessionProblem } from '../errors.js';
import { MANIFEST_HASH_METADATA, headObject, putSmallObject, writeCompleteMarker } from '../s3/objects.js';
import { claimSessionId } from '../state/queries/claim-session-id.js';
import { transitionSession } from '../state/queries/transition-session.js';
import type { SessionRow } from '../state/session-row.js';
import { observedState } from './completion-detector.js';
import { buildManifest, manifestHash, prettyManifest, writeManifestCopy } from './manifest.js';
import { manifestForFolder } from './manifest-for-folder.js';
import { MAX_KEY_BYTES, completeKey, manifestKey, overlongKeys } from './s3-keys.js';
import { resolveSessionId } from './session-id.js';
import { listSessionFiles, type SessionListing } from './session-files.js';
import { ignoreMatcher } from './ignore.js';
import { uploadSessionFiles } from './uploader.js';

const RESERVED_TOP_LEVEL = ['manifest.json', '_COMPLETE'];

/** Problems with a folder's contents that no retry can fix. */
export function contentProblem(listing: SessionListing): string | null {
  if (listing.invalidNames.length > 0) {
    return `file names that are not valid UTF-8 cannot become S3 keys: ${listing.invalidNames.slice(0, 5).join(', ')}${listing.invalidNames.length > 5 ? ` (+${listing.invalidNames.length - 5} more)` : ''}`;
  }
  const reserved = listing.files.filter((f) => RESERVED_TOP_LEVEL.includes(f.relativePath)).map((f) => f.relativePath);
  if (reserved.length > 0) return `the session contains ${reserved.join(' and ')} at its top level, which the upload itself writes`;
  const control = listing.files.filter((f) => CONTROL_CHARACTER.test(f.relativePath)).map((f) => escapeControl(f.relativePath));
  if (control.length > 0) {
    return `file names with control characters make S3 keys that S3's XML listings cannot carry (ListObjects fails or alters them for whoever reads the prefix): ${control.slice(0, 5).join(', ')}${control.length > 5 ? ` (+${control.length - 5} more)` : ''}; rename them, then run retry`;
  }
  return null;
}

// C0 controls and DEL: S3 accepts them in keys, but XML 1.0 cannot carry most of them, and
// parsers turn a carriage return into a line feed, so a listing breaks or names another key.
// eslint-disable-next-line no-control-regex -- these characters are what it looks for
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

function escapeControl(path: string): string {
  return [...path].map((c) => (CONTROL_CHARACTER.test(c) ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c)).join('');
}

/** Files whose S3 key would be too long; found before anything is uploaded. */
export function keyProblem(prefix: string, sessionId: string, listing: SessionListing): string | null {
  const overlong = overlongKeys(prefix, sessionId, listing.files.map((f) => f.relativePath));
  if (overlong.length === 0) return null;
  const named = overlong.slice(0, 3).map((k) => `${k.relativePath} (${k.bytes} bytes)`).join(', ');
  return `${overlong.length} file(s) would get an S3 key longer than S3's limit of ${MAX_KEY_BYTES} bytes: ${named}${overlong.length > 3 ? ` (+${overlong.length - 3} more)` : ''}; shorten their paths (or s3_prefix), then run retry`;
}

/**
 * ready_to_upload (or failed, or an interrupted uploading) → uploaded: files, then
 * manifest.json, then `_COMPLETE` last, each only after what comes before it is in S3.
 * `judged`: the listing the session was just found stable on, uploaded as it was judged
 * (otherwise the folder is listed now).
 */
export async function uploadStableSession(deps: Deps, row: SessionRow, leaseToken: string, signal: AbortSignal, judged?: SessionListing): Promise<SessionRow> {
  const { db, s3, config, clock, logger, agentId } = deps;
  // DB round trips this session's upload costs (the benchmark reports them; O(1) in file count).
  const roundTrips0 = db.roundTrips;
  const profile = config.profiles[row.profile];
  if (!profile) throw sessionProblem('UNKNOWN_PROFILE', `profile "${row.profile}" is no longer in the configuration`);
  const ignored = ignoreMatcher(profile.ignore_patterns);
  const listing = judged ?? (await listSessionFiles(row.folderPath, ignored));
  const problem = contentProblem(listing);
  if (problem) throw sessionProblem('RESERVED_OR_INVALID_NAME', problem);
  const { sessionId } = await resolveSessionId(row.folderPath, row.folderName, profile.metadata_files);
  const bucket = config.upload.s3_bucket;
  const prefix = config.upload.s3_prefix;
  const keyTrouble = keyProblem(prefix, sessionId, listing);
  if (keyTrouble) throw sessionProblem('KEY_TOO_LONG', keyTrouble);

  const owner = await claimSessionId(db, sessionId, row.pk, clock.now());
  if (owner.pk !== row.pk) {
    const local = await manifestForFolder(config, { sessionId, folderPath: row.folderPath, listing }, signal);
    const hash = manifestHash(local);
    if (owner.manifestHash === hash && (owner.status === 'uploaded' || owner.status === 'processed')) {
      return markDuplicate(deps, row, leaseToken, { sessionId, hash, fileCount: local.file_count, totalBytes: local.total_bytes, state: observedState(listing.files), of: owner.folderPath });
    }
    throw sessionProblem(
      'SESSION_ID_COLLISION',
      `session_id ${sessionId} is already recorded for folder ${owner.folderPath} (status ${owner.status}); this folder ${row.folderPath} was not uploaded. Give one of them another session_id, then run retry.`,
    );
  }

  // A marker from an upload the DB does not know (lost state, another deployment) must not
  // be overwritten with different data.
  const marker = await headObject(s3, bucket, completeKey(prefix, sessionId), signal);
  if (marker) {
    const local = await manifestForFolder(config, { sessionId, folderPath: row.folderPath, listing }, signal);
    const hash = manifestHash(local);
    if (marker.metadata[MANIFEST_HASH_METADATA] === hash) {
      return markDuplicate(deps, row, leaseToken, { sessionId, hash, fileCount: local.file_count, totalBytes: local.total_bytes, state: observedState(listing.files), of: `s3://${bucket}/${completeKey(prefix, sessionId)}` });
    }
    throw sessionProblem(
      'COMPLETE_CONFLICT',
      `s3://${bucket}/${completeKey(prefix, sessionId)} already exists for a different manifest; this folder ${row.folderPath} was not uploaded`,
    );
  }

  const started = await transitionSession(db, {
    pk: row.pk,
    leaseToken,
    agentId,
    from: ['ready_to_upload', 'failed', 'uploading'],
    to: 'uploading',
    now: clock.now(),
    reason: row.status === 'uploading' ? 'resuming an interrupted upload' : 'upload started',
    sessionId,
  });
  const totalBytes = listing.files.reduce((n, f) => n + f.size, 0);
  logger.info(
    { event: 'upload_started', session_id: sessionId, from: started.from, to: 'uploading', folder: row.folderPath, files: listing.files.length, bytes: totalBytes, attempt: row.attempts + 1 },
    'upload started',
  );
  const t0 = Date.now();
  const sha256 = await uploadSessionFiles(deps, { pk: row.pk, sessionId }, listing.files, signal);

  // Metadata only (no second read): anything added, removed or touched voids the attempt.
  const after = await listSessionFiles(row.folderPath, ignored);
  const uploadedState = observedState(listing.files);
  if (observedState(after.files) !== uploadedState) throw new SessionChangedError('files were added, removed or changed during the upload');

  const manifest = buildManifest({
    sessionId,
    machineId: config.agent.machine_id,
    labId: config.agent.lab_id,
    sessionPath: row.folderPath,
    files: listing.files,
    sha256,
    skipped: listing.skipped,
  });
  const hash = manifestHash(manifest);
  const cachePath = await writeManifestCopy(config.storage.manifest_cache_dir, manifest, hash);
  logger.info({ event: 'manifest_created', session_id: sessionId, manifest_hash: hash, files: manifest.file_count, bytes: manifest.total_bytes, cache_path: cachePath }, 'manifest created');
  await putSmallObject(s3, { bucket, key: manifestKey(prefix, sessionId), body: prettyManifest(manifest), contentType: 'application/json', metadata: { [MANIFEST_HASH_METADATA]: hash } }, signal);
  logger.info({ event: 'upload_completed', session_id: sessionId, files: manifest.file_count, bytes: manifest.total_bytes, seconds: (Date.now() - t0) / 1000, db_round_trips: db.roundTrips - roundTrips0 }, 'all files and manifest.json are in S3');

  const written = await writeCompleteMarker(s3, { bucket, key: completeKey(prefix, sessionId), manifestHash: hash }, signal);
  const { row: uploaded } = await transitionSession(db, {
    pk: row.pk,
    leaseToken,
    agentId,
    from: ['uploading'],
    to: 'uploaded',
    now: clock.now(),
    reason: written === 'written' ? '_COMPLETE written' : '_COMPLETE was already present for this manifest',
    manifestHash: hash,
    fileCount: manifest.file_count,
    totalBytes: manifest.total_bytes,
    observedState: uploadedState,
    error: null,
    nextAttemptAt: null,
  });
  deps.metrics.sessionsCompleted.inc();
  logger.info(
    { event: 'complete_marker_uploaded', session_id: sessionId, from: 'uploading', to: 'uploaded', key: completeKey(prefix, sessionId), manifest_hash: hash, already_present: written !== 'written', db_round_trips: db.roundTrips - roundTrips0 },
    '_COMPLETE written',
  );
  return uploaded;
}

async function markDuplicate(
  deps: Deps,
  row: SessionRow,
  leaseToken: string,
  d: { sessionId: string; hash: string; fileCount: number; totalBytes: number; state: string; of: string },
): Promise<SessionRow> {
  const { row: done, from } = await transitionSession(deps.db, {
    pk: row.pk,
    leaseToken,
    agentId: deps.agentId,
    from: ['ready_to_upload', 'failed', 'uploading'],
    to: 'uploaded',
    now: deps.clock.now(),
    reason: `duplicate of ${d.of}: identical manifest, not uploaded again`,
    sessionId: d.sessionId,
    manifestHash: d.hash,
    fileCount: d.fileCount,
    totalBytes: d.totalBytes,
    observedState: d.state,
    error: null,
  });
  deps.logger.info(
    { event: 'session_duplicate', session_id: d.sessionId, from, to: 'uploaded', folder: row.folderPath, duplicate_of: d.of, manifest_hash: d.hash },
    'identical session already uploaded; not uploading again',
  );
  return done;
}
