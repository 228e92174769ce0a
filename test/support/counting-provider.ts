import type { Scope } from '../../codecs/scope.js';
import type { GeneratedDataKey, KekInfo, KeyProvider } from '../../keys/key-provider.js';

/**
 * Wraps a real provider to count calls and, on demand, to fail them or hold them back: the failure
 * modes of a KMS, in-process, for cache logic tests. KMS wire-level faults are tested against moto.
 */
export class CountingProvider implements KeyProvider {
  generated = 0;
  decrypted = 0;
  failWith: Error | undefined;
  gate: Promise<void> | undefined;

  constructor(readonly inner: KeyProvider) {}

  get name(): string {
    return this.inner.name;
  }
  primaryKeyId(): string {
    return this.inner.primaryKeyId();
  }
  handles(keyId: string): boolean {
    return this.inner.handles(keyId);
  }
  async generateDataKey(scope: Scope): Promise<GeneratedDataKey> {
    this.generated++;
    await this.gate;
    if (this.failWith) throw this.failWith;
    return this.inner.generateDataKey(scope);
  }
  async decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    this.decrypted++;
    await this.gate;
    if (this.failWith) throw this.failWith;
    return this.inner.decryptDataKey(keyId, wrapped, scope);
  }
  listKeys(): Promise<readonly KekInfo[]> {
    return this.inner.listKeys();
  }
  checkReady(): Promise<void> {
    return this.inner.checkReady();
  }
}
