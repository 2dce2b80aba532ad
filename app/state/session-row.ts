import type { SessionStatus } from './states.js';

export interface SessionRow {
  pk: number;
  folderPath: string;
  folderName: string;
  rootPath: string;
  profile: string;
  sessionId: string | null;
  status: SessionStatus;
  manifestHash: string | null;
  fileCount: number | null;
  totalBytes: number | null;
  processedPath: string | null;
  attempts: number;
  nextAttemptAt: Date | null;
  lastError: string | null;
  lastErrorCode: string | null;
  observedState: string | null;
  observedSince: Date | null;
  observedAt: Date | null;
  leaseOwner: string | null;
  leaseToken: string | null;
  leaseExpiresAt: Date | null;
  discoveredAt: Date;
  updatedAt: Date;
  stableAt: Date | null;
  uploadedAt: Date | null;
  processedAt: Date | null;
  dismissedBy: string | null;
  dismissedReason: string | null;
  dismissedAt: Date | null;
}

type Raw = Record<string, unknown>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string | Date));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function toSessionRow(r: Raw): SessionRow {
  return {
    pk: Number(r.id),
    folderPath: String(r.folder_path),
    folderName: String(r.folder_name),
    rootPath: String(r.root_path),
    profile: String(r.profile),
    sessionId: str(r.session_id),
    status: r.status as SessionStatus,
    manifestHash: str(r.manifest_hash),
    fileCount: num(r.file_count),
    totalBytes: num(r.total_bytes),
    processedPath: str(r.processed_path),
    attempts: Number(r.attempts),
    nextAttemptAt: date(r.next_attempt_at),
    lastError: str(r.last_error),
    lastErrorCode: str(r.last_error_code),
    observedState: str(r.observed_state),
    observedSince: date(r.observed_since),
    observedAt: date(r.observed_at),
    leaseOwner: str(r.lease_owner),
    leaseToken: str(r.lease_token),
    leaseExpiresAt: date(r.lease_expires_at),
    discoveredAt: date(r.discovered_at) ?? new Date(0),
    updatedAt: date(r.updated_at) ?? new Date(0),
    stableAt: date(r.stable_at),
    uploadedAt: date(r.uploaded_at),
    processedAt: date(r.processed_at),
    dismissedBy: str(r.dismissed_by),
    dismissedReason: str(r.dismissed_reason),
    dismissedAt: date(r.dismissed_at),
  };
}
