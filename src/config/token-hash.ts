import { createHash } from 'node:crypto';

/**
 * How a static API token is kept in the config (`auth.staticTokens[].sha256`): the SHA-256 of the
 * token, hex. Tokens are long random strings, so an unsalted fast hash is enough (no dictionary to
 * attack). The server checks tokens against it; `tokens new` writes it.
 */
export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
