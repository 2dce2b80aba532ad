import type { Deps } from '../deps.js';
import { deadHolderReason } from '../state/lease-holder.js';
import { expireLease, leasesHeldByOthers } from '../state/queries/held-leases.js';

/**
 * Before claiming: a lease whose holder is provably gone (killed on this host, or any other
 * holder when this process has the embedded database to itself) ends now instead of after
 * `lease_seconds`; every other held session is logged as skipped, with who holds it and until when.
 */
export async function settleHeldLeases(deps: Deps, roots: string[]): Promise<void> {
  const { db, clock, logger } = deps;
  const now = clock.now();
  for (const lease of await leasesHeldByOthers(db, roots, deps.agentId, now)) {
    const ctx = {
      session_pk: lease.pk,
      folder: lease.folderPath,
      ...(lease.sessionId ? { session_id: lease.sessionId } : {}),
      status: lease.status,
      holder: lease.holder,
      lease_expires_at: lease.expiresAt.toISOString(),
    };
    const dead = deadHolderReason(lease.holder, db.kind === 'pglite');
    if (dead && (await expireLease(db, lease.pk, lease.token, now))) {
      logger.warn({ event: 'lease_taken_over', ...ctx, reason: dead }, 'the agent holding this session is gone; taking it over now');
    } else {
      logger.info({ event: 'session_leased', ...ctx }, 'another agent is working on this session; skipped');
    }
  }
}
