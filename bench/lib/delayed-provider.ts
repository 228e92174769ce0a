import type { Scope } from '../../primitives/scope.js';
import { ForwardingProvider } from '../../keys/forwarding-provider.js';
import type { GeneratedDataKey, KeyProvider } from '../../keys/key-provider.js';

/** A KEK provider with a KMS round trip's latency added to every call, and a call counter. */
export class DelayedProvider extends ForwardingProvider {
  calls = 0;
  constructor(
    inner: KeyProvider,
    public delayMs: number,
  ) {
    super(inner);
  }
  private async wait(): Promise<void> {
    this.calls++;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
  }
  override async generateDataKey(scope: Scope): Promise<GeneratedDataKey> {
    await this.wait();
    return super.generateDataKey(scope);
  }
  override async decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    await this.wait();
    return super.decryptDataKey(keyId, wrapped, scope);
  }
}
