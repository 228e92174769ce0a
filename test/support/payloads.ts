import type { Payload } from '@temporalio/common';
import proto from '@temporalio/proto';

const ProtoPayload = proto.temporal.api.common.v1.Payload;
const utf8 = new TextEncoder();

export function jsonPayload(value: unknown): Payload {
  return { metadata: { encoding: utf8.encode('json/plain') }, data: utf8.encode(JSON.stringify(value)) };
}

/** proto3 JSON (base64 bytes), the shape the codec protocol and our vectors use. */
export function toProtoJson(p: Payload): { metadata?: Record<string, string>; data?: string } {
  return ProtoPayload.toObject(ProtoPayload.fromObject(p), { bytes: String }) as { metadata?: Record<string, string>; data?: string };
}

export function fromProtoJson(o: unknown): Payload {
  return ProtoPayload.toObject(ProtoPayload.fromObject(o as Record<string, unknown>), { bytes: Uint8Array }) as Payload;
}

export function text(p: Payload | undefined): string {
  return new TextDecoder().decode(p?.data ?? new Uint8Array());
}

/** Compare payloads by content (metadata keys and bytes, data bytes). */
export function samePayload(a: Payload, b: Payload): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(p: Payload): unknown {
  const j = toProtoJson(p);
  const meta = j.metadata ?? {};
  return { metadata: Object.fromEntries(Object.keys(meta).sort().map((k) => [k, meta[k]])), data: j.data ?? '' };
}
