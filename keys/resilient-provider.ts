import { KmsUnavailableError, isEnvelopeError } from '../primitives/errors.js';
import type { Scope } from '../primitives/scope.js';
import { ForwardingProvider } from './forwarding-provider.js';
import { worthRetryingNow } from './kms-errors.js';
import type { GeneratedDataKey, KeyProvider } from './key-provider.js';

export interface ResilienceOptions {
  /**
   * Attempts per call for failures a retry can cure (throttling, KMS 5xx, timeouts, resets). With
   * AwsKmsKeyring's single-attempt client this is the number of KMS requests per operation at most.
   * Default 3.
   */
  maxAttempts?: number;
  /** Full-jitter backoff: attempt n waits random(0, min(maxDelayMs, baseDelayMs·2^n)). Defaults 50 ms / 1 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Consecutive failed calls that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long an open circuit fails fast before one probe is let through. Default 2 s, doubling to 30 s while probes fail. */
  openMs?: number;
  maxOpenMs?: number;
  random?: () => number;
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * A KEK provider wrapper for a KMS that may be slow or down. Retryable failures are retried with
 * full-jitter backoff; after `failureThreshold` failed calls in a row the circuit opens and calls
 * fail fast with a retryable KMS_UNAVAILABLE, without touching KMS, until a single probe succeeds.
 * With the DEK cache's coalescing in front (one call per data key, however many payloads wait for
 * it) this keeps an outage from turning into a request storm, and recovery from a thundering herd.
 * Permanent failures (access denied, tampered, unknown key) pass straight through and do not count.
 * A retryable failure KMS did not explain (keys/kms-errors.ts) counts but is not retried at once.
 */
export class ResilientProvider extends ForwardingProvider {
  private failures = 0;
  private openUntil = 0;
  private openFor: number;
  private probing = false;
  /** For metrics and tests. */
  readonly stats = { calls: 0, retries: 0, shortCircuited: 0, opened: 0 };
  private readonly o: Required<ResilienceOptions>;

  constructor(inner: KeyProvider, options: ResilienceOptions = {}) {
    super(inner);
    this.o = {
      maxAttempts: options.maxAttempts ?? 3,
      baseDelayMs: options.baseDelayMs ?? 50,
      maxDelayMs: options.maxDelayMs ?? 1000,
      failureThreshold: options.failureThreshold ?? 5,
      openMs: options.openMs ?? 2000,
      maxOpenMs: options.maxOpenMs ?? 30_000,
      random: options.random ?? Math.random,
      clock: options.clock ?? Date.now,
      sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref?.())),
    };
    this.openFor = this.o.openMs;
  }

  override generateDataKey(scope: Scope): Promise<GeneratedDataKey> {
    return this.call('GenerateDataKey', () => super.generateDataKey(scope));
  }
  override decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    return this.call('Decrypt', () => super.decryptDataKey(keyId, wrapped, scope));
  }
  override checkReady(): Promise<void> {
    return this.call('DescribeKey', () => super.checkReady());
  }

  /** "closed", "open" (failing fast) or "half-open" (one probe allowed). */
  get state(): 'closed' | 'open' | 'half-open' {
    if (this.failures < this.o.failureThreshold) return 'closed';
    return this.o.clock() < this.openUntil ? 'open' : 'half-open';
  }

  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const state = this.state;
    if (state === 'open' || (state === 'half-open' && this.probing)) {
      this.stats.shortCircuited++;
      throw new KmsUnavailableError(`KMS ${op} not attempted: ${this.failures} calls in a row failed; retrying KMS after ${Math.max(0, this.openUntil - this.o.clock())} ms`);
    }
    const probe = state === 'half-open';
    if (probe) this.probing = true;
    try {
      // A probe gets one attempt: its answer decides whether the circuit closes.
      const attempts = probe ? 1 : this.o.maxAttempts;
      for (let attempt = 1; ; attempt++) {
        this.stats.calls++;
        try {
          const out = await fn();
          this.failures = 0;
          this.openFor = this.o.openMs;
          return out;
        } catch (err) {
          if (!(isEnvelopeError(err) && err.retryable)) throw err;
          if (attempt >= attempts || !worthRetryingNow(err)) {
            this.recordFailure(probe);
            throw err;
          }
          this.stats.retries++;
          await this.o.sleep(this.o.random() * Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** attempt));
        }
      }
    } finally {
      if (probe) this.probing = false;
    }
  }

  private recordFailure(probe: boolean): void {
    this.failures++;
    if (this.failures < this.o.failureThreshold) return;
    if (probe) this.openFor = Math.min(this.o.maxOpenMs, this.openFor * 2);
    // Jitter the reopening so many replicas do not probe KMS in the same instant.
    this.openUntil = this.o.clock() + this.openFor * (0.5 + this.o.random() / 2);
    this.stats.opened++;
  }
}
