import type { Scope } from '../../codecs/scope.js';
import type { GeneratedDataKey, KekInfo, KeyProvider } from '../../keys/key-provider.js';

/** A KEK provider with a KMS round trip's latency added to every call, and a call counter. */
export class DelayedProvider implements KeyProvider {
  calls = 0;
  constructor(
    private readonly inner: KeyProvider,
    public delayMs: number,
  ) {}
  get name(): string {
    return this.inner.name;
  }
  primaryKeyId(): string {
    return this.inner.primaryKeyId();
  }
  handles(keyId: string): boolean {
    return this.inner.handles(keyId);
  }
  private async wait(): Promise<void> {
    this.calls++;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
  }
  async generateDataKey(scope: Scope): Promise<GeneratedDataKey> {
    await this.wait();
    return this.inner.generateDataKey(scope);
  }
  async decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    await this.wait();
    return this.inner.decryptDataKey(keyId, wrapped, scope);
  }
  listKeys(): Promise<readonly KekInfo[]> {
    return this.inner.listKeys();
  }
  checkReady(): Promise<void> {
    return this.inner.checkReady();
  }
}
