/**
 * The codec server as `npm run fuzz` attacks it, in its own process: the config in the JSON file
 * FUZZ_CONFIG, a local keyring it creates at FUZZ_KEYRING, audit and error lines to the file FUZZ_LOG (which
 * the fuzz greps for secrets afterwards). Prints its URL; stops on SIGTERM.
 */
import pino from 'pino';
import { readFileSync } from 'node:fs';
import { LocalKeyring } from '../../keys/index.js';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/server/audit.js';
import { buildServer } from '../../src/server/build-server.js';

const config = validateConfig(JSON.parse(readFileSync(process.env.FUZZ_CONFIG!, 'utf8')), process.env.FUZZ_CONFIG);
const keyring = await LocalKeyring.open({ path: process.env.FUZZ_KEYRING!, create: true, watchIntervalMs: 0, warn: () => undefined });
const logger = createLogger({ level: 'info', pretty: false, destination: pino.destination({ dest: process.env.FUZZ_LOG!, sync: true }) });
const { app } = await buildServer(config, { keyProvider: keyring, logger });
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${url}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
