import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** This process as recorded in leases and events: `{host}-{pid}-{random}`. */
export function newAgentId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The host and pid inside an agent id; null for ids of another form (operators' `user@cli`). */
export function agentHost(agentId: string): { host: string; pid: number } | null {
  const m = /^(.+)-(\d+)-[0-9a-f]{6}$/.exec(agentId);
  return m ? { host: m[1] as string, pid: Number(m[2]) } : null;
}

/**
 * Why the agent holding a lease is provably gone, or null when it may still be working:
 * with the embedded database this process holds the only lock, so no other agent can be
 * using it; otherwise a holder on this host whose pid no longer exists. (A pid reused by
 * another process only makes us wait for the lease to expire, the safe way round.)
 */
export function deadHolderReason(holder: string, embedded: boolean): string | null {
  if (embedded) return 'the embedded database is locked by this process alone';
  const h = agentHost(holder);
  if (!h || h.host !== hostname()) return null;
  try {
    process.kill(h.pid, 0);
    return null;
  } catch (err) {
    return (err as { code?: string }).code === 'ESRCH' ? `pid ${h.pid} no longer exists on this host` : null;
  }
}
