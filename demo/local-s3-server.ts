// `npm run local-s3`: the demo's S3 server on its own, for pointing the agent at a folder of
// your own (README, "Your own folder"). Keeps its objects in .demo/s3 between runs; Ctrl-C stops it.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_BUCKET, DEMO_S3_PORT, LOCAL_S3_CREDENTIALS, startLocalS3 } from './local-s3.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const port = Number(process.env.LOCAL_S3_PORT ?? DEMO_S3_PORT);
const s3 = await startLocalS3([DEMO_BUCKET], undefined, { port, directory: join(repo, '.demo', 's3') });
console.log(`local S3 (s3rver) at ${s3.endpoint}, bucket ${DEMO_BUCKET}, objects in ${join(repo, '.demo', 's3')}
credentials: AWS_ACCESS_KEY_ID=${LOCAL_S3_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${LOCAL_S3_CREDENTIALS.secretAccessKey}
in the agent's config: upload: {s3_bucket: ${DEMO_BUCKET}, s3_endpoint: "${s3.endpoint}", s3_force_path_style: true, s3_region: us-east-1}
Ctrl-C stops it.`);
const stop = () => void s3.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
