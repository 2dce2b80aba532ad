import type { S3Client } from '@aws-sdk/client-s3';
import type { Clock } from './clock.js';
import type { AgentConfig } from './config/schema.js';
import type { Metrics } from './health/metrics-api.js';
import type { Logger } from './logging/logger.js';
import type { Share } from './share/share.js';
import type { S3AccessGate } from './s3/access-gate.js';
import type { Transfer } from './s3/transfer.js';
import type { Db } from './state/db.js';

/** Everything a stage needs, passed in: no singletons, nothing read from the environment. */
export interface Deps {
  db: Db;
  s3: S3Client;
  /** Requests in flight, the memory for their bodies, the bandwidth limit and the PUT transport, for every upload of the process. */
  transfer: Transfer;
  /** The session roots' files: every read, listing and move goes through it. */
  share: Share;
  /** Paused while S3 refuses the agent itself; checked before each claim. */
  s3Access: S3AccessGate;
  clock: Clock;
  logger: Logger;
  config: AgentConfig;
  metrics: Metrics;
  /** This process, as recorded in leases and events. */
  agentId: string;
}
