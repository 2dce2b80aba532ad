import type { Deps } from '../deps.js';
import { SessionChangedError, sessionProblem } from '../errors.js';
import { MANIFEST_HASH_METADATA, headObject, putSmallObject, writeCompleteMarker } from '../s3/objects.js';
import { claimSessionId } from '../state/queries/claim-session-id.js';
import { transitionSession, type SessionClaim } from '../state/queries/transition-session.js';
import type { SessionRow } from '../state/session-row.js';
import { observedState } from './completion-detector.js';
import { buildManifest, manifestHash, prettyManifest, writeManifestCopy } from './manifest.js';
import { manifestForFolder } from './manifest-for-folder.js';
import { completeKey, manifestKey, objectKey } from './s3-keys.js';
import { deleteObjectsNotIn } from '../s3/stale-objects.js';
import { collisionMessage, ownerDecision, preflight } from './preflight.js';
import { listSessionFiles, type SessionListing } from '../share/session-listing.js';
import { ignoreMatcher } from '../share/ignore-patterns.js';
import { uploadSessionFiles } from './uploader.js';

/**
 * ready_to_upload (or failed, or an interrupted uploading) → uploaded: files, then
 * manifest.json, then `_COMPLETE` last, each only after what comes before it is in S3.
 * `judged`: the listing the session was just found stable on, uploaded as it was judged
 * (otherwise the folder is listed now).
 */
export async function uploadStableSession(
  sessionDeps: Deps,
  row: SessionRow,
  claim: SessionClaim,
  signal: AbortSignal,
  judged?: SessionListing,
  onSessionId?: (sessionId: string) => void,
): Promise<SessionRow> {
  let deps = sessionDeps;
  const { db, s3, share, config, clock } = deps;
  // DB round trips this session's upload costs (the benchmark reports them; O(1) in file count).
  const roundTrips0 = db.roundTrips;
  const { listing, sessionId } = await preflight(share, config, row, signal, judged, onSessionId);
  // From here every line about the session carries its id (the caller's logger has its folder).
  if (row.sessionId === null) deps = { ...deps, logger: deps.logger.child({ session_id: sessionId }) };
  const { logger } = deps;
  const bucket = config.upload.s3_bucket;
  const prefix = config.upload.s3_prefix;

  // The folder's manifest as it would be uploaded, for the checks that compare it with one already stored.
  const localManifest = async () => {
    const manifest = await manifestForFolder(share, config, { sessionId, folderPath: row.folderPath, listing }, signal);
    return { manifest, hash: manifestHash(manifest) };
  };
  const duplicateOf = (local: Awaited<ReturnType<typeof localManifest>>, of: string) =>
    markDuplicate(deps, row, claim, {
      sessionId,
      hash: local.hash,
      fileCount: local.manifest.file_count,
      totalBytes: local.manifest.total_bytes,
      state: observedState(listing.files),
      of,
    });

  const owner = await claimSessionId(db, sessionId, row.pk, clock.now());
  const decision = ownerDecision(row.pk, row.folderPath, sessionId, owner);
  if (decision.go !== 'upload') {
    const local = await localManifest();
    if (decision.go === 'duplicate_if_identical' && owner.manifestHash === local.hash) return duplicateOf(local, decision.of);
    throw sessionProblem('SESSION_ID_COLLISION', collisionMessage(row.folderPath, sessionId, owner));
  }

  // A marker from an upload the DB does not know (lost state, another deployment) must not
  // be overwritten with different data.
  const marker = await headObject(s3, bucket, completeKey(prefix, sessionId), signal);
  if (marker) {
    const local = await localManifest();
    if (marker.metadata[MANIFEST_HASH_METADATA] === local.hash) return duplicateOf(local, `s3://${bucket}/${completeKey(prefix, sessionId)}`);
    throw sessionProblem(
      'COMPLETE_CONFLICT',
      `s3://${bucket}/${completeKey(prefix, sessionId)} already exists for a different manifest; this folder ${row.folderPath} was not uploaded`,
    );
  }

  const started = await transitionSession(db, claim, 'startUpload', {
    reason: row.status === 'uploading' ? 'resuming an interrupted upload' : 'upload started',
    sessionId,
  });
  const totalBytes = listing.files.reduce((n, f) => n + f.size, 0);
  logger.info(
    { event: 'upload_started', from: started.from, to: started.row.status, files: listing.files.length, bytes: totalBytes, attempt: row.attempts + 1 },
    'upload started',
  );
  const t0 = Date.now();
  const sha256 = await uploadSessionFiles(deps, { pk: row.pk, sessionId }, listing.files, signal);

  // Metadata only (no second read): anything added, removed or touched voids the attempt.
  // Only its state is kept: a second listing of a large folder is not held beside the first.
  const afterState = observedState(
    (await listSessionFiles(share, row.folderPath, ignoreMatcher(config.profiles[row.profile]?.ignore_patterns ?? []), signal)).files,
  );
  const uploadedState = observedState(listing.files);
  if (afterState !== uploadedState) throw new SessionChangedError('files were added, removed or changed during the upload');

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
  const body = prettyManifest(manifest);
  const cachePath = await writeManifestCopy(config.storage.manifest_cache_dir, sessionId, body, hash);
  logger.info(
    { event: 'manifest_created', manifest_hash: hash, files: manifest.file_count, bytes: manifest.total_bytes, cache_path: cachePath },
    'manifest created',
  );
  await putSmallObject(
    s3,
    { bucket, key: manifestKey(prefix, sessionId), body, contentType: 'application/json', metadata: { [MANIFEST_HASH_METADATA]: hash } },
    signal,
  );
  const seconds = (Date.now() - t0) / 1000;
  const mbPerSecond = seconds > 0 ? Math.round((manifest.total_bytes / 1e6 / seconds) * 10) / 10 : null;
  // folder and session_id come with the session's logger.
  logger.info(
    {
      event: 'upload_completed',
      files: manifest.file_count,
      bytes: manifest.total_bytes,
      seconds,
      mb_per_s: mbPerSecond,
      db_round_trips: db.roundTrips - roundTrips0,
    },
    `all files and manifest.json are in S3: ${manifest.file_count} files, ${(manifest.total_bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s${mbPerSecond === null ? '' : ` (${mbPerSecond} MB/s)`}`,
  );

  await removeLeftovers(
    deps,
    sessionId,
    manifest.files.map((f) => f.relative_path),
    signal,
  );
  const written = await writeCompleteMarker(s3, { bucket, key: completeKey(prefix, sessionId), manifestHash: hash }, signal);
  const { row: uploaded, from } = await transitionSession(db, claim, 'markUploaded', {
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
    {
      event: 'complete_marker_uploaded',
      from,
      to: uploaded.status,
      key: completeKey(prefix, sessionId),
      manifest_hash: hash,
      already_present: written !== 'written',
      db_round_trips: db.roundTrips - roundTrips0,
    },
    '_COMPLETE written',
  );
  return uploaded;
}

/**
 * Objects an earlier attempt left under the session's prefix (a file since deleted from the
 * folder) would reach the ETL beside `_COMPLETE`: removed first, each logged. Bucket
 * versioning keeps their bytes recoverable.
 */
async function removeLeftovers(deps: Deps, sessionId: string, relativePaths: string[], signal: AbortSignal): Promise<void> {
  const { s3, config, logger } = deps;
  const prefix = config.upload.s3_prefix;
  const keep = new Set([...relativePaths.map((p) => objectKey(prefix, sessionId, p)), manifestKey(prefix, sessionId), completeKey(prefix, sessionId)]);
  const removed = await deleteObjectsNotIn(s3, config.upload.s3_bucket, `${objectKey(prefix, sessionId, '')}/`, keep, signal);
  for (const o of removed) {
    logger.warn({ event: 'stale_object_removed', key: o.key, size: o.size }, 'removed an object an earlier attempt left that the manifest does not list');
  }
}

async function markDuplicate(
  deps: Deps,
  row: SessionRow,
  claim: SessionClaim,
  d: { sessionId: string; hash: string; fileCount: number; totalBytes: number; state: string; of: string },
): Promise<SessionRow> {
  const { row: done, from } = await transitionSession(deps.db, claim, 'markDuplicate', {
    reason: `duplicate of ${d.of}: identical manifest, not uploaded again`,
    sessionId: d.sessionId,
    manifestHash: d.hash,
    fileCount: d.fileCount,
    totalBytes: d.totalBytes,
    observedState: d.state,
    error: null,
  });
  deps.logger.info(
    { event: 'session_duplicate', from, to: done.status, duplicate_of: d.of, manifest_hash: d.hash },
    'identical session already uploaded; not uploading again',
  );
  return done;
}
