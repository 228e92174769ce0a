/**
 * The static-key baseline as a server, shaped like Temporal's sample codec servers: fastify, no
 * auth, no policy, no audit log, no metrics; proto3 JSON in, one static AES-256-GCM key
 * (BENCH_STATIC_KEY, hex), proto3 JSON out. What the same machine does with the least a codec
 * server can do. Prints its URL.
 */
import Fastify from 'fastify';
import { payloadsFromJson, payloadsToJson } from '../../codecs/payload-json.js';
import { serveBench } from '../lib/clustered.js';
import { StaticKeyCodec } from '../lib/static-key-codec.js';

const codec = new StaticKeyCodec(Buffer.from(process.env.BENCH_STATIC_KEY!, 'hex'));
await serveBench(async () => {
  const app = Fastify({ bodyLimit: 4 * 1024 * 1024 });
  app.post('/decode', async (req) => payloadsToJson(await codec.decode(payloadsFromJson(req.body))));
  return { url: await app.listen({ host: '127.0.0.1', port: 0 }), close: () => app.close() };
});
