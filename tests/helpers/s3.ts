import { createHash } from 'node:crypto';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_S3_CREDENTIALS, startLocalS3 } from '../../demo/local-s3.js';
import { dockerAvailable } from './database.js';

export interface TestS3 {
  endpoint: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  client: S3Client;
  kind: string;
  close(): Promise<void>;
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** A real S3 protocol server: MinIO in a container where Docker exists, else s3rver in-process. */
export async function startTestS3(bucket = 'test-bucket'): Promise<TestS3> {
  if (dockerAvailable() && process.env.TEST_S3 !== 's3rver') {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('minio/minio:latest')
      .withCommand(['server', '/data'])
      .withExposedPorts(9000)
      .withEnvironment({ MINIO_ROOT_USER: 'minioadmin', MINIO_ROOT_PASSWORD: 'minioadmin' })
      .withWaitStrategy(Wait.forHttp('/minio/health/ready', 9000))
      .start();
    const endpoint = `http://${container.getHost()}:${container.getMappedPort(9000)}`;
    const credentials = { accessKeyId: 'minioadmin', secretAccessKey: 'minioadmin' };
    const client = s3Client(endpoint, credentials);
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    return { endpoint, bucket, credentials, client, kind: 'minio', close: async () => void (client.destroy(), await container.stop()) };
  }
  const server = await startLocalS3([bucket]);
  const client = s3Client(server.endpoint, LOCAL_S3_CREDENTIALS);
  return {
    endpoint: server.endpoint,
    bucket,
    credentials: LOCAL_S3_CREDENTIALS,
    client,
    kind: 's3rver',
    async close() {
      client.destroy();
      await server.close();
    },
  };
}

export function s3Client(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials });
}

/** A bucket on a server: enough for reading and emptying it. */
export type Bucket = Pick<TestS3, 'client' | 'bucket'>;

export async function listKeys(s3: Bucket, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(res.Contents ?? []).map((o) => o.Key as string));
    token = res.NextContinuationToken;
  } while (token);
  return keys.sort();
}

export async function getObject(s3: Bucket, key: string): Promise<Buffer> {
  const res = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

export async function getMetadata(s3: Bucket, key: string): Promise<Record<string, string>> {
  const res = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
  return res.Metadata ?? {};
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function emptyBucket(s3: Bucket): Promise<void> {
  for (const key of await listKeys(s3)) await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }));
}
