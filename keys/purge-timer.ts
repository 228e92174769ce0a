/** How often expired keys are dropped (and wiped) when nothing touches a cache. */
export const PURGE_EVERY_MS = 60_000;

/**
 * One unref'd timer (it never keeps a process alive) that calls `owner.purgeExpired()` every
 * `everyMs`, capped at a minute, holding the owner only weakly: a cache nobody references any more
 * is collected, and its timer stops. The owner clears the returned timer when it closes.
 */
export function startPurgeTimer(owner: { purgeExpired(): void }, everyMs: number): NodeJS.Timeout {
  const self = new WeakRef(owner);
  const timer = setInterval(
    () => {
      const o = self.deref();
      if (o === undefined) clearInterval(timer);
      else o.purgeExpired();
    },
    Math.min(PURGE_EVERY_MS, everyMs),
  );
  timer.unref();
  return timer;
}
