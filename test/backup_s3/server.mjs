// Start one local S3 peer on 127.0.0.1 for the backup tests.
//   node --openssl-legacy-provider server.mjs s3rver PORT DIR BUCKET... 
//   node --openssl-legacy-provider server.mjs fauxqs PORT - BUCKET...
// s3rver checks Signature V4 (key pairs S3RVER/S3RVER and the pair in
// MK_S3_KEY/MK_S3_SECRET); fauxqs has the faithful multipart life cycle
// (abort, list uploads) and no authentication.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [kind, port, dir, ...buckets] = process.argv.slice(2);

if (kind === 's3rver') {
  const S3rver = require('@20minutes/s3rver');
  const { DUMMY_ACCOUNT } = require('@20minutes/s3rver/lib/models/account');
  if (process.env.MK_S3_KEY) DUMMY_ACCOUNT.createKeyPair(process.env.MK_S3_KEY, process.env.MK_S3_SECRET);
  await new S3rver({
    directory: dir, address: '127.0.0.1', port: Number(port), silent: true, vhostBuckets: false,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  }).run();
} else if (kind === 'fauxqs') {
  const { buildApp } = await import('fauxqs');
  const { S3Store } = await import('fauxqs/dist/s3/s3Store.js').catch(
    () => import(new URL('./node_modules/fauxqs/dist/s3/s3Store.js', import.meta.url)));
  const { SqsStore } = await import(new URL('./node_modules/fauxqs/dist/sqs/sqsStore.js', import.meta.url));
  const { SnsStore } = await import(new URL('./node_modules/fauxqs/dist/sns/snsStore.js', import.meta.url));
  const s3Store = new S3Store();
  for (const b of buckets) s3Store.createBucket(b);
  const app = buildApp({ logger: false, stores: { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store } });
  await app.listen({ port: Number(port), host: '127.0.0.1' });
} else {
  console.error('usage: server.mjs s3rver|fauxqs PORT DIR BUCKET...');
  process.exit(2);
}
console.log(`${kind} listening on 127.0.0.1:${port}`);
