import { Writable } from 'node:stream';
import pino from 'pino';
import type { KeyProvider } from '../../keys/key-provider.js';
import { LocalKeyring } from '../../keys/local-keyring.js';
import { newKeyringDocument } from '../../keys/keyring-file.js';
import { buildServer } from '../../src/server/build-server.js';
import { validateConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { sha256Hex } from '../../src/config/token-hash.js';

/** A codec server app on an in-memory keyring, with its log lines captured for assertions. */
export async function buildTestServer(config: ConfigInput, keyring: KeyProvider = LocalKeyring.fromDocument(newKeyringDocument())) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const server = await buildServer(validateConfig(config), { keyProvider: keyring, logger });
  const audits = () => lines.map((l) => JSON.parse(l) as { audit?: Record<string, unknown> }).filter((l) => l.audit).map((l) => l.audit!);
  return { ...server, keyring, lines, audits };
}

export const token = (principal: string, groups: string[] = [], revoked = false) => {
  const value = `tok_${principal}_${'x'.repeat(24)}`;
  return { value, entry: { principal, sha256: `sha256:${sha256Hex(value)}`, groups, revoked } };
};
