import { S3Client } from '@aws-sdk/client-s3';
import type { AgentConfig } from '../config/schema.js';

/**
 * The S3 client for the configured bucket. Endpoint: `upload.s3_endpoint`, else
 * AWS_ENDPOINT_URL_S3, else AWS. Credentials: the standard AWS chain (ECS task role).
 */
export function createS3Client(upload: AgentConfig['upload'], env: NodeJS.ProcessEnv = process.env): S3Client {
  const endpoint = upload.s3_endpoint ?? env.AWS_ENDPOINT_URL_S3;
  return new S3Client({
    region: upload.s3_region,
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: upload.s3_force_path_style,
    // Bounded retries inside one attempt; the session-level backoff handles longer outages.
    maxAttempts: 4,
    requestHandler: {
      connectionTimeout: 10_000,
      requestTimeout: 120_000,
      httpAgent: { keepAlive: true, maxSockets: upload.concurrency * 2 },
      httpsAgent: { keepAlive: true, maxSockets: upload.concurrency * 2 },
    },
  });
}
