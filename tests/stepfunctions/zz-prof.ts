import { MemoryS3 } from './s3-backend.js';
import { syntheticSession } from './synthetic-session.js';
import { Validator } from './validator.js';
const s3 = new MemoryS3('b');
for (const o of syntheticSession('raw/', 'S1', 1000)) s3.put(o.key, o.body, o.metadata);
const v = new Validator(s3, 'raw/');
const t0 = Date.now();
const r = await v.run('b', 'raw/S1/_COMPLETE');
console.log(Date.now() - t0, r.status);
