import type { Scope } from '../primitives/scope.js';
import type { GeneratedDataKey, KekInfo, KeyProvider } from './key-provider.js';

/**
 * A KeyProvider that hands every call to another one: the base for wrappers that add behaviour to
 * a few calls (retries, latency, counting) and leave the rest alone.
 */
export class ForwardingProvider implements KeyProvider {
  constructor(readonly inner: KeyProvider) {}

  get name(): string {
    return this.inner.name;
  }
  get wrapsBranchKeys(): boolean | undefined {
    return this.inner.wrapsBranchKeys;
  }
  primaryKeyId(): string {
    return this.inner.primaryKeyId();
  }
  handles(keyId: string): boolean {
    return this.inner.handles(keyId);
  }
  generateDataKey(scope: Scope): Promise<GeneratedDataKey> {
    return this.inner.generateDataKey(scope);
  }
  decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    return this.inner.decryptDataKey(keyId, wrapped, scope);
  }
  listKeys(): Promise<readonly KekInfo[]> {
    return this.inner.listKeys();
  }
  checkReady(): Promise<void> {
    return this.inner.checkReady();
  }
  close(): Promise<void> | void {
    return this.inner.close?.();
  }
}
