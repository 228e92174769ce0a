import type { ShredEvent } from './shred-store.js';

/**
 * The watch loop of the database shred stores: ask the store for shred events, hand each to
 * `onShred`, again every `intervalMs`. The first poll runs at once, so the watch has its starting
 * point within one round trip. One poll at a time; the timer is unref'd, so a watch never keeps a
 * process alive. A failing poll (the store is down) is reported once, and its recovery once, rather
 * than on every tick; the next poll picks up where the last successful one stopped, so events from
 * the outage are delivered late, never dropped.
 */
export interface ShredEventSource {
  /** The events since the last successful call (the store keeps its own cursor). */
  poll(): Promise<readonly ShredEvent[]>;
}

export interface ShredEventPollOptions {
  intervalMs: number;
  /** Told when polling starts failing and when it works again. */
  warn?: ((message: string) => void) | undefined;
  /** For messages: which store. */
  description: string;
}

export function pollShredEvents(source: ShredEventSource, onShred: (event: ShredEvent) => void, options: ShredEventPollOptions): { close(): void } {
  let busy = false;
  let closed = false;
  let failing = false;
  const tick = () => {
    if (busy || closed) return;
    busy = true;
    source
      .poll()
      .then(
        (events) => {
          if (failing) options.warn?.(`${options.description}: shred events readable again`);
          failing = false;
          for (const event of events) {
            if (closed) return;
            onShred(event);
          }
        },
        (err: unknown) => {
          if (!failing) {
            const code = (err as { code?: string }).code;
            options.warn?.(`${options.description}: cannot read shred events (${code ?? 'error'}); cached keys of a workflow shredded meanwhile stay usable until this recovers or they expire`);
          }
          failing = true;
        },
      )
      .finally(() => {
        busy = false;
      });
  };
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  tick();
  return {
    close: () => {
      closed = true;
      clearInterval(timer);
    },
  };
}
