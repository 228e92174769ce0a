import type { Scope } from '../../primitives/scope.js';
import { ForwardingProvider } from '../../keys/forwarding-provider.js';
import type { GeneratedDataKey } from '../../keys/key-provider.js';

/**
 * Wraps a real provider to count calls and, on demand, to fail them or hold them back: the failure
 * modes of a KMS, in-process, for cache logic tests. KMS wire-level faults are tested against moto.
 */
export class CountingProvider extends ForwardingProvider {
  generated = 0;
  decrypted = 0;
  failWith: Error | undefined;
  gate: Promise<void> | undefined;

  override async generateDataKey(scope: Scope): Promise<GeneratedDataKey> {
    this.generated++;
    await this.gate;
    if (this.failWith) throw this.failWith;
    return super.generateDataKey(scope);
  }
  override async decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    this.decrypted++;
    await this.gate;
    if (this.failWith) throw this.failWith;
    return super.decryptDataKey(keyId, wrapped, scope);
  }
}
