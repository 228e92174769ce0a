/** The framework floor: fastify with the same body limit, parsing the JSON body and sending it back. Prints its URL. */
import Fastify from 'fastify';
import { serveBench } from '../lib/clustered.js';

await serveBench(async () => {
  const app = Fastify({ bodyLimit: 4 * 1024 * 1024 });
  app.post('/decode', async (req) => req.body);
  return { url: await app.listen({ host: '127.0.0.1', port: 0 }), close: () => app.close() };
});
