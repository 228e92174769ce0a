import { InvalidArgumentError } from 'commander';

/**
 * Argument parsers for commander. Each throws InvalidArgumentError, which commander turns into
 * "option '--x <v>' argument 'y' is invalid. <why>" and we turn into exit code 2.
 */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "15m", "24h", "7d", "250ms", "0". */
export function parseDuration(value: string): number {
  if (value === '0') return 0;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (m === null) throw new InvalidArgumentError('expected a duration such as 90s, 15m, 24h or 7d.');
  const ms = Number(m[1]) * (UNITS[m[2] as string] as number);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('duration is too large.');
  return Math.round(ms);
}

/** An ISO-8601 instant, or a duration meaning "that long ago" ("7d"). */
export function parseInstant(value: string, now = Date.now()): Date {
  if (/^\d+(?:\.\d+)?(ms|s|m|h|d)$/.test(value.trim())) return new Date(now - parseDuration(value));
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) throw new InvalidArgumentError('expected an ISO-8601 time (2026-11-24T10:00:00Z) or a duration ago (7d).');
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new InvalidArgumentError('expected an ISO-8601 time (2026-11-24T10:00:00Z) or a duration ago (7d).');
  return new Date(t);
}

export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1_000_000) {
    throw new InvalidArgumentError('expected a whole number from 1 to 1000000.');
  }
  return Number(value);
}

export function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return Number(value);
}

export function parseNonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected a non-empty value.');
  return value;
}
