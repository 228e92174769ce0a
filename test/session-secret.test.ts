import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig, validateConfig } from '../src/config/load.js';
import { SessionSigner } from '../src/server/auth/session.js';

/**
 * `auth.session.secret` is the HMAC key of every session cookie. It was checked only for length
 * (≥ 44 characters): 44 dots decode to a 0-byte key, and anyone could then forge sessions
 * (issue 15 item 2). It must decode, as canonical base64, to at least 32 bytes of key material.
 */

const withSecret = (secret: string) => ({ auth: { session: { secret } } });
const good = randomBytes(32).toString('base64');

describe('auth.session.secret', () => {
  const refused: [string, string, RegExp][] = [
    ['44 dots (decodes to 0 bytes)', '.'.repeat(44), /not canonical base64/],
    ['44 spaces', ' '.repeat(44), /not canonical base64/],
    ['24 random bytes', randomBytes(24).toString('base64'), /decodes to 24 bytes; expected at least 32/],
    ['31 random bytes', randomBytes(31).toString('base64'), /decodes to 31 bytes; expected at least 32/],
    ['32 zero bytes', Buffer.alloc(32).toString('base64'), /does not look random/],
    ['a repeated short pattern', Buffer.from('0123456789'.repeat(4)).toString('base64'), /does not look random/],
    ['non-canonical trailing bits', `${good.slice(0, 42)}${nonCanonicalLast(good)}=`, /not canonical base64/],
    ['mixed alphabets', randomBytes(33).toString('base64url').replace(/^./, '+').replace(/.$/, '_'), /not canonical base64/],
    ['a trailing newline', `${good}\n`, /not canonical base64/],
    ['missing padding in the standard alphabet with + or /', withPlusOrSlash().replace(/=+$/, ''), /not canonical base64/],
  ];
  for (const [name, secret, message] of refused) {
    it(`refuses ${name}, naming the field and not echoing the value`, () => {
      let error: Error | undefined;
      try {
        validateConfig(withSecret(secret));
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message).toMatch(/auth\.session\.secret: /);
      expect(error?.message).toMatch(message);
      if (secret.trim().length > 8) expect(error?.message).not.toContain(secret.trim());
    });
  }

  it('accepts 32 and 64 random bytes, standard base64 padded or base64url unpadded', () => {
    for (const secret of [good, randomBytes(64).toString('base64'), randomBytes(32).toString('base64url'), randomBytes(48).toString('base64url')]) {
      expect(validateConfig(withSecret(secret)).auth.session.secret).toBe(secret);
    }
  });

  it('names the environment variable path the same way', () => {
    expect(() => loadConfig({ env: { TEMPORAL_ENVELOPE_SESSION_SECRET: '.'.repeat(44) } })).toThrow(/auth\.session\.secret: .*not canonical base64/);
  });

  it('the signer refuses such a key too, whoever constructs it', () => {
    expect(() => new SessionSigner('.'.repeat(44), 60)).toThrow(/auth\.session\.secret .*not canonical base64/);
    expect(() => new SessionSigner(good, 60)).not.toThrow();
  });
});

/** The same 32 bytes with non-zero bits in the last character's unused low bits. */
function nonCanonicalLast(b64: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const i = alphabet.indexOf(b64[42]!);
  return alphabet[(i & ~3) | ((i & 3) ^ 1)]!;
}

function withPlusOrSlash(): string {
  for (;;) {
    const s = randomBytes(32).toString('base64');
    if (/[+/]/.test(s)) return s;
  }
}
