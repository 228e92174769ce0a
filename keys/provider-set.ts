import { UnknownKeyError } from '../primitives/errors.js';
import type { Scope } from '../primitives/scope.js';
import type { GeneratedDataKey, KekInfo, KeyProvider } from './key-provider.js';

/** Several providers seen as one: the first wraps, whichever holds the key id unwraps. */
export class ProviderSet implements KeyProvider {
  readonly name: string;
  constructor(private readonly providers: readonly KeyProvider[]) {
    this.name = providers.map((p) => p.name).join('+');
  }
  private get first(): KeyProvider {
    return this.providers[0] as KeyProvider;
  }
  primaryKeyId(): string {
    return this.first.primaryKeyId();
  }
  handles(keyId: string): boolean {
    return this.providers.some((p) => p.handles(keyId));
  }
  generateDataKey(scope: Scope): Promise<GeneratedDataKey> {
    return this.first.generateDataKey(scope);
  }
  decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    const provider = this.providers.find((p) => p.handles(keyId));
    if (provider === undefined) return Promise.reject(new UnknownKeyError(`no configured key provider holds key ${JSON.stringify(keyId)}`));
    return provider.decryptDataKey(keyId, wrapped, scope);
  }
  async listKeys(): Promise<readonly KekInfo[]> {
    return (await Promise.all(this.providers.map((p) => p.listKeys()))).flat();
  }
  async checkReady(): Promise<void> {
    await Promise.all(this.providers.map((p) => p.checkReady()));
  }
}
