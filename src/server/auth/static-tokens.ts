import { timingSafeEqual } from 'node:crypto';
import { sha256Hex } from '../../config/token-hash.js';
import type { Principal } from './principal.js';

export interface StaticTokenEntry {
  principal: string;
  sha256: string;
  groups: readonly string[];
  revoked: boolean;
}

/** Machine and local tokens, kept only as SHA-256 hashes (../../config/token-hash.ts): a leaked config does not leak tokens. */
export class StaticTokens {
  private readonly byHash = new Map<string, StaticTokenEntry>();

  constructor(entries: readonly StaticTokenEntry[]) {
    for (const e of entries) this.byHash.set(e.sha256.replace(/^sha256:/, ''), e);
  }

  /** undefined: not one of ours; 'revoked': ours but revoked. Else who, and the hash a session refers to. */
  verify(token: string): { principal: Principal; staticTokenHash: string } | 'revoked' | undefined {
    const hash = sha256Hex(token);
    const entry = this.byHash.get(hash);
    if (entry === undefined) return undefined;
    // The map lookup already matched; compare again in constant time to keep timing uniform.
    if (!timingSafeEqual(Buffer.from(hash, 'hex'), Buffer.from(entry.sha256.replace(/^sha256:/, ''), 'hex'))) return undefined;
    if (entry.revoked) return 'revoked';
    return { principal: { id: entry.principal, groups: entry.groups, via: 'static-token' }, staticTokenHash: hash };
  }

  /** The tokens that authenticate now (configured, not revoked). */
  active(): StaticTokenEntry[] {
    return [...this.byHash.values()].filter((e) => !e.revoked);
  }

  get size(): number {
    return this.byHash.size;
  }
}
