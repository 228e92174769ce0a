import type { Logger } from 'pino';
import { isEnvelopeError } from '../../primitives/errors.js';
import { HttpError } from './http-errors.js';

/**
 * Readiness as two audiences need it. The probe (`GET /readyz`, open to anyone who can reach the
 * port) learns one bit: ready or not. The operator learns why from the server log: the typed code
 * and the provider's message, which may name the keyring's path and mode — details an
 * unauthenticated caller has no business reading. The reason is logged when readiness changes
 * (ready ↔ not ready, or another error code), not on every probe: Kubernetes probes every few
 * seconds, and a line per probe would bury the one that matters. The same code with a new message
 * (a keyring deleted, then restored corrupt) is logged too, at most once a minute, because some
 * providers' messages carry counters that change on every check.
 *
 * Each check asks the key provider afresh (the local keyring re-reads and re-checks its file,
 * mode included; AWS KMS re-reads its key config and calls DescribeKey). Probes that arrive while
 * one check is running share its result, so a flood of probes costs one check at a time.
 */
export interface ReadinessOptions {
  /** A check that has not answered by then counts as not ready. Default 5000 ms. */
  timeoutMs?: number;
  /** How often the same error code with a new message may be logged again. Default 60 s. */
  rewordedLogIntervalMs?: number;
  now?: () => number;
}

export interface ReadinessState {
  readonly ready: boolean;
  /** Why not, as a typed code (KEYRING_ERROR, KMS_UNAVAILABLE, …; NOT_READY when the cause is untyped). */
  readonly code?: string;
  readonly message?: string;
}

export class Readiness {
  private inFlight: Promise<ReadinessState> | undefined;
  private logged: ReadinessState | undefined;
  private loggedAt = 0;
  private readonly timeoutMs: number;
  private readonly rewordedLogIntervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly check: () => Promise<void>,
    private readonly logger: Logger,
    options: ReadinessOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.rewordedLogIntervalMs = options.rewordedLogIntervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Check now (or join the check already running), log the reason if readiness changed, and say whether ready. */
  probe(): Promise<ReadinessState> {
    this.inFlight ??= this.run().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async run(): Promise<ReadinessState> {
    let state: ReadinessState;
    try {
      await withTimeout(this.check(), this.timeoutMs);
      state = { ready: true };
    } catch (err) {
      state = isEnvelopeError(err) || err instanceof HttpError
        ? { ready: false, code: err.code, message: err.message }
        : { ready: false, code: 'NOT_READY', message: err instanceof Error ? err.message : String(err) };
    }
    this.logIfChanged(state);
    return state;
  }

  private logIfChanged(state: ReadinessState): void {
    const last = this.logged;
    const changed = last === undefined || last.ready !== state.ready || last.code !== state.code;
    const reworded = !changed && last.message !== state.message && this.now() - this.loggedAt >= this.rewordedLogIntervalMs;
    if (!changed && !reworded) return;
    this.logged = state;
    this.loggedAt = this.now();
    if (state.ready) this.logger.info({ readiness: { status: 'ready' } }, 'ready: the key provider can load and reach its keys');
    else this.logger.warn({ readiness: { status: 'not ready', code: state.code, message: state.message } }, `not ready: ${state.code}: ${state.message}`);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`readiness check did not answer within ${ms} ms`)), ms);
    }),
  ]);
}
