// zod's mini build: the same checks and English messages as the classic API, at a sixth of
// the code a start-up compiles (≈50 ms less for every scan-once).
import * as z from 'zod/mini';
import { en } from 'zod/locales';
import { normalizeRootPath, rootPathProblem } from './root-path.js';
import { DEFAULT_BUFFERED_PARTS, DEFAULT_CONCURRENCY, DEFAULT_PARALLEL_SESSIONS, MAX_CONCURRENCY, MAX_PARALLEL_SESSIONS } from './limits.cjs';

z.config(en());

const nonEmpty = () => z.string().check(z.minLength(1));
const int = (min: number, max?: number) => z.int().check(z.gte(min), ...(max === undefined ? [] : [z.lte(max)]));
const positiveSeconds = int(1);
const hhmm = () => z.string().check(z.regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM'));

function isTimeZone(zone: string): boolean {
  // The default needs no check: the first Intl.DateTimeFormat loads ICU's zone data (≈25 ms of start-up).
  if (zone === 'UTC') return true;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const agentSchema = z.strictObject({
  machine_id: nonEmpty(),
  lab_id: nonEmpty(),
  scan_interval_seconds: z._default(positiveSeconds, 60),
  stable_window_seconds: z._default(int(0), 300),
  timezone: z._default(z.string().check(z.minLength(1), z.refine(isTimeZone, 'unknown time zone (use an IANA name such as UTC or America/Toronto)')), 'UTC'),
  move_after_upload: z._default(z.boolean(), true),
  health_port: z.optional(int(0, 65535)),
  // How long a claim on a session lasts without a heartbeat before another agent may take it.
  lease_seconds: z._default(int(5), 60),
  // Wake the loop on new folders and marker files (inotify). auto: only for roots that are
  // not network filesystems, whose clients never see other hosts' writes as events.
  watch_for_changes: z._default(z.enum(['auto', 'on', 'off']), 'auto'),
});

const rootSchema = z.strictObject({
  path: z.pipe(
    z.string().check(
      z.minLength(1),
      z.refine((p) => rootPathProblem(p) === null, { error: (issue) => rootPathProblem(String(issue.input)) ?? 'invalid root' }),
    ),
    z.transform(normalizeRootPath),
  ),
  profile: nonEmpty(),
});

const profileSchema = z.strictObject({
  required_markers: z._default(z.array(nonEmpty()), []),
  ignore_patterns: z._default(z.array(nonEmpty()), []),
  metadata_files: z._default(z.array(nonEmpty()), []),
});

const DEFAULT_PART_SIZE_MB = 8;

const uploadFields = z.strictObject({
  s3_bucket: z.string().check(z.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')),
  s3_region: z._default(nonEmpty(), 'ca-central-1'),
  s3_prefix: z._default(z.string().check(z.refine((p) => !p.split('/').some((s) => s === '.' || s === '..'), 'must not contain "." or ".." segments')), ''),
  s3_endpoint: z.optional(z.url()),
  s3_force_path_style: z._default(z.boolean(), false),
  max_retries: z._default(int(0), 10),
  initial_backoff_seconds: z._default(z.number().check(z.gte(0)), 30),
  max_backoff_seconds: z._default(z.number().check(z.gte(0)), 3600),
  // S3 rejects parts under 5 MiB (except the last) and over 5 GiB.
  part_size_mb: z._default(int(5, 5120), DEFAULT_PART_SIZE_MB),
  // Requests to S3 in flight at once, across every file and session of the agent: many, since
  // over a link with tens of ms of round trip small files are bound by it (see s3/transfer.ts).
  concurrency: z._default(int(1, MAX_CONCURRENCY), DEFAULT_CONCURRENCY),
  // MiB of file data in memory at once (request bodies: whole small files and parts), shared by
  // every upload of the agent. Unset: room for DEFAULT_BUFFERED_PARTS parts.
  buffer_memory_mb: z.optional(int(5, 1024 * 1024)),
  // Sessions uploaded at once by this agent, so a small session does not wait behind a large
  // one. They share the `concurrency` requests and `buffer_memory_mb`.
  parallel_sessions: z._default(int(1, MAX_PARALLEL_SESSIONS), DEFAULT_PARALLEL_SESSIONS),
  // Bytes per second across all uploads of this agent (labs share a VPN with instruments).
  // Unset: no limit.
  max_bytes_per_second: z.optional(int(1024)),
  // Other limits by time of day (agent.timezone); the first window that matches wins.
  bandwidth_windows: z._default(
    z.array(
      z.strictObject({
        start: hhmm(),
        end: hhmm(),
        // null: no limit during the window.
        max_bytes_per_second: z.nullable(int(1024)),
      }),
    ),
    [],
  ),
});

const uploadSchema = z.pipe(
  uploadFields,
  z.transform((u) => ({ ...u, buffer_memory_mb: u.buffer_memory_mb ?? DEFAULT_BUFFERED_PARTS * u.part_size_mb })),
);

const storageSchema = z.strictObject({
  manifest_cache_dir: nonEmpty(),
  log_dir: nonEmpty(),
  state_dir: z.optional(nonEmpty()),
});

// How the agent reaches nfs:// roots (NFSv4.1 in user space, app/share/nfs).
const shareSchema = z.strictObject({
  nfs: z._default(
    z.strictObject({
      // tailscaled's SOCKS5 proxy in userspace-networking mode; unset: connect directly.
      proxy: z.optional(z.string().check(z.regex(/^socks5:\/\/(\[[0-9a-fA-F:.]+\]|[^:/@\s]+):\d{1,5}$/, 'must be socks5://host:port'))),
      // AUTH_SYS credentials; unset: the agent process's own.
      uid: z.optional(int(0, 0xffffffff)),
      gid: z.optional(int(0, 0xffffffff)),
      // Deadline of each NFS call; a connection whose call passes it is torn down.
      timeout_seconds: z._default(int(1, 3600), 30),
      // How long one operation keeps trying through reconnects and a server's grace period (often 90 s).
      retry_seconds: z._default(int(0, 3600), 120),
    }),
    { timeout_seconds: 30, retry_seconds: 120 },
  ),
});

export const configSchema = z.strictObject({
  agent: agentSchema,
  watch: z.strictObject({ session_roots: z.array(rootSchema).check(z.minLength(1)) }),
  profiles: z.record(z.string(), profileSchema),
  upload: uploadSchema,
  storage: storageSchema,
  share: z._default(shareSchema, { nfs: { timeout_seconds: 30, retry_seconds: 120 } }),
});

/**
 * Checks across fields, run on the raw input so they are reported together with every other
 * problem rather than after the others are fixed: a root's profile exists; roots are distinct
 * and not nested (the outer root would take the inner one for a session, and move it); the
 * agent's own directories are not inside a root (they would become sessions).
 */
export function crossFieldProblems(raw: unknown): { path: (string | number)[]; message: string }[] {
  const cfg = raw as {
    watch?: { session_roots?: unknown };
    profiles?: unknown;
    upload?: Record<string, unknown> | null;
    storage?: Record<string, unknown>;
  } | null;
  const roots = Array.isArray(cfg?.watch?.session_roots) ? (cfg.watch.session_roots as { path?: unknown; profile?: unknown }[]) : [];
  const profiles = cfg?.profiles !== null && typeof cfg?.profiles === 'object' ? Object.keys(cfg.profiles as object) : null;
  const problems: { path: (string | number)[]; message: string }[] = [];
  const inside = (child: string, parent: string) => parent === '/' || child.startsWith(`${parent}/`);
  const paths = roots.map((r) => (typeof r?.path === 'string' ? normalizeRootPath(r.path) : null));
  roots.forEach((root, i) => {
    if (profiles && typeof root?.profile === 'string' && !profiles.includes(root.profile)) {
      problems.push({
        path: ['watch', 'session_roots', i, 'profile'],
        message: `unknown profile "${root.profile}" (defined: ${profiles.join(', ') || 'none'})`,
      });
    }
    const mine = paths[i];
    if (!mine) return;
    const same = paths.findIndex((p) => p === mine);
    if (same < i) problems.push({ path: ['watch', 'session_roots', i, 'path'], message: `duplicates session_roots[${same}]` });
    const outer = paths.findIndex((p, j) => j !== i && p !== null && p !== mine && inside(mine, p));
    if (outer >= 0)
      problems.push({
        path: ['watch', 'session_roots', i, 'path'],
        message: `is inside session_roots[${outer}] (${paths[outer]}): the outer root would take it for a session`,
      });
  });
  const upload = cfg?.upload;
  if (upload !== null && typeof upload === 'object') {
    const partMb = Number.isInteger(upload.part_size_mb) ? (upload.part_size_mb as number) : DEFAULT_PART_SIZE_MB;
    const bufferMb = upload.buffer_memory_mb;
    if (Number.isInteger(bufferMb) && (bufferMb as number) >= 5 && (bufferMb as number) < partMb) {
      const message = `must be at least part_size_mb (${partMb}): a part must fit in it`;
      problems.push({ path: ['upload', 'buffer_memory_mb'], message });
    }
  }
  for (const key of ['manifest_cache_dir', 'log_dir', 'state_dir']) {
    const dir = cfg?.storage?.[key];
    if (typeof dir !== 'string') continue;
    const root = paths.find((p) => p !== null && (normalizeRootPath(dir) === p || inside(normalizeRootPath(dir), p)));
    if (root) problems.push({ path: ['storage', key], message: `is inside the session root ${root}: the agent's own files would be taken for a session` });
  }
  return problems;
}

export type AgentConfig = z.infer<typeof configSchema>;
export type Profile = z.infer<typeof profileSchema>;
export type SessionRoot = z.infer<typeof rootSchema>;
