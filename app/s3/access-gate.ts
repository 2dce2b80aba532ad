import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Clock } from '../clock.js';
import type { AgentConfig } from '../config/schema.js';
import { AgentError, classifyError, httpStatus, redactSecrets } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { backoffSeconds } from '../pipeline/backoff.js';

/** A paused agent looks again at least this often, whatever max_backoff_seconds says: fixed keys should be noticed soon. */
const MAX_PAUSE_SECONDS = 300;
const PROBE_TIMEOUT_MS = 30_000;

/**
 * Lists at most one key under the prefix: what the task role may do, and the cheapest request
 * that shows whether S3 accepts this agent. null when it does, else why not.
 */
export async function probePrefix(
  s3: S3Client,
  upload: Pick<AgentConfig['upload'], 's3_bucket' | 's3_prefix'>,
  signal?: AbortSignal,
): Promise<AgentError | null> {
  const prefix = upload.s3_prefix.split('/').filter(Boolean).join('/');
  const timeout = AbortSignal.timeout(PROBE_TIMEOUT_MS);
  try {
    await s3.send(new ListObjectsV2Command({ Bucket: upload.s3_bucket, Prefix: prefix ? `${prefix}/` : '', MaxKeys: 1 }), {
      abortSignal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    return null;
  } catch (err) {
    // A path that drops packets (a VPN down) refuses nothing: no answer to a one-key listing is unreachable too.
    if (timeout.aborted && !signal?.aborted)
      return new AgentError('S3_NO_ANSWER', `S3 NO_ANSWER: no answer to a one-key listing within ${PROBE_TIMEOUT_MS / 1000} s`, 's3_unreachable', true, {
        cause: err,
      });
    return classifyError(err);
  }
}

/**
 * Uploads pause while S3 refuses the agent itself (wrong or expired credentials, no permission
 * on the prefix) or cannot be reached (at start, or an outage of the endpoint mid-way): the
 * agent's problem, so no session spends a retry on it. A paused gate probes the prefix again
 * with backoff and opens when S3 answers.
 */
export class S3AccessGate {
  private problem: AgentError | null = null;
  private failures = 0;
  private retryAt = 0;
  private checking: Promise<boolean> | null = null;

  constructor(
    private readonly deps: { s3: S3Client; upload: AgentConfig['upload']; clock: Clock; logger: Logger },
    private readonly probe: (signal?: AbortSignal) => Promise<AgentError | null> = (signal) => probePrefix(deps.s3, deps.upload, signal),
  ) {}

  /** Why uploads are paused, or null. */
  reason(): string | null {
    if (!this.problem) return null;
    return `uploads paused: ${describe(this.problem)}: ${redactSecrets(this.problem.message)}; next check ${new Date(this.retryAt).toISOString()}`;
  }

  /** The error that paused uploads (for the sessions it stopped). */
  cause(): AgentError | null {
    return this.problem;
  }

  /** Whether uploads may go ahead: nothing is wrong, or a due probe found S3 accepting the agent again. */
  async open(signal?: AbortSignal): Promise<boolean> {
    if (!this.problem) return true;
    if (this.deps.clock.now().getTime() < this.retryAt) return false;
    // Every worker of a cycle asks at once: one probe answers them all (and counts as one check).
    this.checking ??= this.check(signal).finally(() => {
      this.checking = null;
    });
    return await this.checking;
  }

  private async check(signal?: AbortSignal): Promise<boolean> {
    const problem = await this.probe(signal);
    if (problem) {
      this.pause(problem);
      return false;
    }
    this.deps.logger.info(
      { event: 's3_access_restored', from: 'paused', to: 'uploading', kind: this.problem?.kind, after_checks: this.failures },
      'S3 accepts the agent again; uploads resume',
    );
    this.problem = null;
    this.failures = 0;
    return true;
  }

  /**
   * A session's request was refused with an access error: true when the whole prefix is refused
   * (uploads now paused, the error naming S3's own code), false when only that session's keys
   * are (its own problem).
   */
  async refused(err: AgentError, signal?: AbortSignal): Promise<boolean> {
    const problem = await this.probe(signal);
    // An aborted probe (the agent stopping) says nothing about S3.
    if (!problem || problem.code === 'ABORTED') return false;
    // A HEAD's 403 has no body; the probe's answer names the cause.
    this.pause(err.code === 'S3_Forbidden' ? problem : err);
    return true;
  }

  /**
   * A session's request got no answer from S3: true when the prefix cannot be reached either
   * (uploads now paused), false when the probe gets through (the session's own transient error).
   */
  async unreachable(signal?: AbortSignal): Promise<boolean> {
    // Already paused for it (another session of this cycle met the same outage): no new check.
    if (this.problem?.kind === 's3_unreachable') return true;
    const problem = await this.probe(signal);
    if (problem?.kind !== 's3_unreachable') return false;
    this.pause(problem);
    return true;
  }

  /** Whether a session's failure with `err` is the agent's problem: uploads are then paused and the session spends no retry. */
  async stopsUploads(err: AgentError, signal?: AbortSignal): Promise<boolean> {
    if (err.kind === 's3_access') return await this.refused(err, signal);
    // Also a reset or a timeout with no answer from S3: the path may have gone down under a
    // request in flight (a stalled VPN sends no refusal). The probe tells.
    if (err.kind === 's3_unreachable' || (err.kind === 's3' && httpStatus(err.cause) === undefined)) return await this.unreachable(signal);
    return false;
  }

  /** Pauses uploads for `problem` (the start-up check, or a refused request). */
  pause(problem: AgentError): void {
    this.failures += 1;
    this.problem = problem;
    const { initial_backoff_seconds: initial, max_backoff_seconds: max } = this.deps.upload;
    const delay = backoffSeconds(this.failures, Math.min(initial, MAX_PAUSE_SECONDS), Math.min(max, MAX_PAUSE_SECONDS));
    this.retryAt = this.deps.clock.now().getTime() + delay * 1000;
    const unreachable = problem.kind === 's3_unreachable';
    this.deps.logger.error(
      {
        event: unreachable ? 's3_unreachable' : 's3_access_denied',
        from: this.failures === 1 ? 'uploading' : 'paused',
        to: 'paused',
        checks: this.failures,
        retry_in_seconds: delay,
        err: problem,
      },
      `${describe(problem)}; uploads paused, no session retries spent`,
    );
  }
}

function describe(problem: AgentError): string {
  if (problem.kind === 's3_access') return 'S3 refuses this agent';
  return problem.kind === 's3_unreachable' ? 'S3 unreachable' : 'S3 unavailable';
}
