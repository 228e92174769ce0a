import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KeyObserver } from '../../keys/key-provider.js';

/**
 * Prometheus metrics on a registry of our own (not prom-client's global one), so several servers
 * in one process (tests, benches) do not collide. Labels are fixed small sets: never ids, never
 * anything a caller controls.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status' | 'decision'>;
  readonly duration: Histogram<'route'>;
  readonly payloads: Counter<'op' | 'outcome'>;
  readonly kmsCalls: Counter<'op' | 'provider' | 'outcome'>;
  readonly kmsDuration: Histogram<'op' | 'provider'>;
  readonly cacheEvents: Counter<'cache' | 'result'>;
  readonly cacheEntries: Gauge<'cache'>;

  constructor(cacheStats: () => { encryptEntries: number; decryptEntries: number }, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'temporal_envelope_' });
    this.requests = new Counter({ name: 'temporal_envelope_requests_total', help: 'Codec server requests by route, HTTP status and authorization decision', labelNames: ['route', 'status', 'decision'], registers });
    this.duration = new Histogram({
      name: 'temporal_envelope_request_duration_seconds',
      help: 'Codec server request latency',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.payloads = new Counter({ name: 'temporal_envelope_payloads_total', help: 'Payloads handled by operation and outcome', labelNames: ['op', 'outcome'], registers });
    this.kmsCalls = new Counter({ name: 'temporal_envelope_kms_calls_total', help: 'Calls to the KEK provider (KMS)', labelNames: ['op', 'provider', 'outcome'], registers });
    this.kmsDuration = new Histogram({
      name: 'temporal_envelope_kms_call_duration_seconds',
      help: 'KEK provider call latency',
      labelNames: ['op', 'provider'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3],
      registers,
    });
    this.cacheEvents = new Counter({ name: 'temporal_envelope_dek_cache_events_total', help: 'Data key cache hits and misses', labelNames: ['cache', 'result'], registers });
    this.cacheEntries = new Gauge({
      name: 'temporal_envelope_dek_cache_entries',
      help: 'Data keys held in memory',
      labelNames: ['cache'],
      registers,
      collect() {
        const s = cacheStats();
        this.set({ cache: 'encrypt' }, s.encryptEntries);
        this.set({ cache: 'decrypt' }, s.decryptEntries);
      },
    });
  }

  /** Hooks for the codec's data key cache. */
  observer(): KeyObserver {
    return {
      onKmsCall: (op, provider, outcome, seconds) => {
        this.kmsCalls.inc({ op, provider, outcome });
        this.kmsDuration.observe({ op, provider }, seconds);
      },
      onCacheHit: (cache) => this.cacheEvents.inc({ cache, result: 'hit' }),
      onCacheMiss: (cache) => this.cacheEvents.inc({ cache, result: 'miss' }),
    };
  }
}
