import type { Payload } from '@temporalio/common';
import proto from '@temporalio/proto';

// @temporalio/proto is a reflection root: the type's constructor (what decoded messages are
// instances of) is its `ctor`, not the type object the typings describe as a class.
const PayloadType = proto.temporal.api.common.v1.Payload as unknown as { ctor?: unknown };
const PayloadCtor = typeof PayloadType.ctor === 'function' ? (PayloadType.ctor as abstract new (...args: never[]) => unknown) : undefined;
const MAX_DEPTH = 64;

/**
 * Call `visit` for every Payload anywhere inside a history event (inputs, results, signals, memo,
 * headers, search attributes, failure `encodedAttributes`, user metadata, …). A generic walk over the
 * decoded proto objects rather than a list of event types: new event types and fields are covered
 * without a change here, and a payload the walk misses would make `keys retire` unsafe.
 */
export function forEachPayload(value: unknown, visit: (payload: Payload, path: string) => void): void {
  walk(value, visit, 0, '');
}

function walk(value: unknown, visit: (payload: Payload, path: string) => void, depth: number, path: string): void {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return;
  if (value instanceof Uint8Array) return;
  if (isPayload(value)) {
    visit(value, path);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(item, visit, depth + 1, `${path}[${i}]`));
    return;
  }
  for (const key of Object.keys(value)) walk((value as Record<string, unknown>)[key], visit, depth + 1, path ? `${path}.${key}` : key);
}

function isPayload(value: object): value is Payload {
  if (PayloadCtor !== undefined && value instanceof PayloadCtor) return true;
  // A second copy of @temporalio/proto (or plain objects) would fail instanceof: fall back to shape.
  const v = value as { constructor?: { name?: string }; metadata?: unknown };
  return v.constructor?.name === 'Payload' && typeof v.metadata === 'object' && v.metadata !== null;
}
