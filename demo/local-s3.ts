import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface LocalS3 {
  endpoint: string;
  close(): Promise<void>;
}

/** Where the demo's server listens, so that a config pointing at it still works after a restart. */
export const DEMO_S3_PORT = 4568;
export const DEMO_BUCKET = 'lab-demo-bucket';

/**
 * s3rver (a real S3 HTTP server) on loopback, with `buckets` created, storing under a temp dir
 * (removed on close) or under `keep.directory` (kept, so a restarted server has the same objects).
 * `onObjectCreated` hears every object the server stored (tests count `_COMPLETE` writes).
 */
export async function startLocalS3(buckets: string[], onObjectCreated?: (key: string) => void, keep?: { port: number; directory: string }): Promise<LocalS3> {
  const directory = keep?.directory ?? (await mkdtemp(join(tmpdir(), 'uploader-s3-')));
  if (keep) await mkdir(directory, { recursive: true });
  const server = new S3rver({ port: keep?.port ?? 0, address: '127.0.0.1', silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  if (onObjectCreated) {
    server.on('event', (event: { Records: { eventName: string; s3: { object: { key: string } } }[] }) => {
      for (const r of event.Records) if (r.eventName.startsWith('ObjectCreated')) onObjectCreated(decodeURIComponent(r.s3.object.key));
    });
  }
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async close() {
      await server.close();
      if (!keep) await rm(directory, { recursive: true, force: true });
    },
  };
}
