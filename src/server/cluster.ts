import cluster, { type Worker } from 'node:cluster';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { InvalidConfigError } from '../../primitives/errors.js';

/**
 * `serve --workers N`: N processes (node:cluster) accepting on one port, so the codec server uses
 * every core. Each worker is a whole codec server (keys, DEK cache, metrics of its own); what must
 * hold across all of them lives in the primary, which serves no requests:
 *
 * - the failed-authentication throttle: a worker reports each unproven credential (rare: only
 *   failures travel); the primary counts the address's window over all workers and sends the
 *   window back to every worker, which then refuses that address locally. A guesser spreading
 *   attempts over connections gets at most `max` plus what is in flight during one message.
 * - the per-principal rate limit: every counted request asks the primary's counter (the same
 *   LocalStore @fastify/rate-limit uses in one process), one IPC round trip per request, so the
 *   limit is the configured one, not N times it. Only when `rateLimit.enabled`.
 * - session sign-outs: a worker that ends a session tells the primary, which tells every worker.
 * - the session secret and the dev token: generated once, before forking, and given to every
 *   worker (otherwise a cookie made by one worker would fail on the next).
 *
 * Metrics are per worker: a scrape reaches whichever worker accepts it (see docs/performance.md).
 */

const TAG = 'temporal-envelope';

type Message =
  | { t: typeof TAG; kind: 'auth-fail'; key: string; max: number; windowMs: number }
  | { t: typeof TAG; kind: 'auth-window'; key: string; failures: number; endsAt: number }
  | { t: typeof TAG; kind: 'revoke'; sid: string; exp: number }
  | { t: typeof TAG; kind: 'rl-incr'; id: number; store: number; key: string; timeWindow: number; max: number }
  | { t: typeof TAG; kind: 'rl-result'; id: number; current: number; ttl: number }
  | { t: typeof TAG; kind: 'listening'; url: string };

type Body = Message extends unknown ? (Message extends infer M ? (M extends unknown ? Omit<M, 't'> : never) : never) : never;

const isOurs = (m: unknown): m is Message => typeof m === 'object' && m !== null && (m as { t?: unknown }).t === TAG;

/** `--workers`: a count, or `auto` (one per core the process may use). */
export function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidConfigError(`--workers expected "auto" or a whole number from 1 to 256, got ${JSON.stringify(value)}`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// In a worker

/** What a worker's server shares through the primary; undefined when not a cluster worker. */
export interface ClusterPeer {
  /** Tell the primary about an unproven credential from `key` (an address key). */
  reportAuthFailure(key: string, max: number, windowMs: number): void;
  /** Called with every window the primary decides for an address. */
  onAuthWindow(fn: (key: string, failures: number, endsAt: number) => void): void;
  /** Tell every worker (this one included) that session `sid` ended. */
  revokeSession(sid: string, exp: number): void;
  onRevoke(fn: (sid: string, exp: number) => void): void;
  /** The @fastify/rate-limit `store` option: counters kept in the primary. */
  rateLimitStore: FastifyRateLimitStoreCtor;
  /** Say the server listens (the primary prints one URL for all). */
  listening(url: string): void;
}

let peer: ClusterPeer | undefined;

export function clusterPeer(): ClusterPeer | undefined {
  if (!cluster.isWorker || process.env.TEMPORAL_ENVELOPE_CLUSTER !== '1') return undefined;
  return (peer ??= makePeer());
}

function makePeer(): ClusterPeer {
  const send = (m: Body) => process.send!({ t: TAG, ...m });
  const authWindow: ((key: string, failures: number, endsAt: number) => void)[] = [];
  const revoke: ((sid: string, exp: number) => void)[] = [];
  const pending = new Map<number, (r: { current: number; ttl: number }) => void>();
  let nextId = 0;
  process.on('message', (m: unknown) => {
    if (!isOurs(m)) return;
    if (m.kind === 'auth-window') for (const fn of authWindow) fn(m.key, m.failures, m.endsAt);
    else if (m.kind === 'revoke') for (const fn of revoke) fn(m.sid, m.exp);
    else if (m.kind === 'rl-result') {
      pending.get(m.id)?.({ current: m.current, ttl: m.ttl });
      pending.delete(m.id);
    }
  });
  let stores = 0;
  class PrimaryStore {
    // Routes register in the same order in every worker, so the n-th store is the same route everywhere.
    private readonly store = stores++;
    incr(key: string, cb: (err: Error | null, res?: { current: number; ttl: number }) => void, timeWindow: number, max: number): void {
      const id = nextId++;
      pending.set(id, (r) => cb(null, r));
      send({ kind: 'rl-incr', id, store: this.store, key, timeWindow, max });
    }
    child(): PrimaryStore {
      return new PrimaryStore();
    }
    // `{ increment: false }` is not used by our routes; refuse it loudly rather than guess.
    read(_key: string, cb: (err: Error | null) => void): void {
      cb(new Error('rate-limit read() is not supported under serve --workers'));
    }
  }
  return {
    reportAuthFailure: (key, max, windowMs) => send({ kind: 'auth-fail', key, max, windowMs }),
    onAuthWindow: (fn) => void authWindow.push(fn),
    revokeSession: (sid, exp) => send({ kind: 'revoke', sid, exp }),
    onRevoke: (fn) => void revoke.push(fn),
    rateLimitStore: PrimaryStore,
    listening: (url) => send({ kind: 'listening', url }),
  };
}

// ---------------------------------------------------------------------------------------------
// In the primary

export interface ClusterPrimary {
  /** The URL the workers listen on, once the first says so. */
  url: Promise<string>;
  close(): Promise<void>;
}

interface RateLimitStore {
  incr(key: string, cb: (err: Error | null, res: { current: number; ttl: number }) => void, timeWindow: number, max: number): void;
}

/**
 * Fork `workers` copies of this process's entry point (they run the same command and find
 * themselves workers), with `env` added, and host the shared state. A worker that dies is replaced
 * unless we are closing: one crash must not leave the port with fewer servers.
 */
export function startPrimary(options: { workers: number; env?: NodeJS.ProcessEnv; log?: (line: string) => void }): ClusterPrimary {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const env = { ...options.env, TEMPORAL_ENVELOPE_CLUSTER: '1' };
  // The same LocalStore @fastify/rate-limit uses in one process, one per route store.
  const LocalStore = createRequire(import.meta.url)('@fastify/rate-limit/store/LocalStore') as new (continueExceeding: boolean, exponentialBackoff: boolean, cache: number) => RateLimitStore;
  const rateStores = new Map<number, RateLimitStore>();
  const windows = new Map<string, { failures: number; endsAt: number }>();
  let closing = false;
  let resolveUrl!: (url: string) => void;
  const url = new Promise<string>((resolve) => (resolveUrl = resolve));

  const broadcast = (m: Message) => {
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send(m);
  };
  const onMessage = (worker: Worker, m: unknown) => {
    if (!isOurs(m)) return;
    switch (m.kind) {
      case 'listening':
        resolveUrl(m.url);
        return;
      case 'revoke':
        broadcast(m);
        return;
      case 'auth-fail': {
        const now = Date.now();
        let w = windows.get(m.key);
        if (!w || w.endsAt <= now) windows.set(m.key, (w = { failures: 0, endsAt: now + m.windowMs }));
        w.failures++;
        // Bounded like the per-process throttle: forget ended windows when the map grows.
        if (windows.size > 100_000) for (const [k, x] of windows) if (x.endsAt <= now) windows.delete(k);
        broadcast({ t: TAG, kind: 'auth-window', key: m.key, failures: w.failures, endsAt: w.endsAt });
        return;
      }
      case 'rl-incr': {
        let store = rateStores.get(m.store);
        if (!store) rateStores.set(m.store, (store = new LocalStore(false, false, 5000)));
        store.incr(m.key, (_err, r) => worker.isConnected() && worker.send({ t: TAG, kind: 'rl-result', id: m.id, current: r.current, ttl: r.ttl }), m.timeWindow, m.max);
        return;
      }
      default:
        return;
    }
  };
  cluster.on('message', onMessage);
  const onExit = (worker: Worker, code: number | null, signal: string | null) => {
    if (closing) return;
    log(`temporal-envelope: worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    cluster.fork(env);
  };
  cluster.on('exit', onExit);
  // One first, the rest once it listens: the first creates what start-up creates (the dev keyring).
  cluster.fork(env);
  void url.then(() => {
    for (let i = 1; i < options.workers && !closing; i++) cluster.fork(env);
  });

  return {
    url,
    close: async () => {
      closing = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              w.once('exit', () => resolve());
              // Each worker's own SIGTERM handler drains its requests and flushes its log.
              w.process.kill('SIGTERM');
            }),
        ),
      );
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
    },
  };
}
