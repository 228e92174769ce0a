import type { Payload, WorkflowSerializationContext } from '@temporalio/common';
import fc from 'fast-check';
import { isEnvelopeError, type EnvelopeCodec } from '../../codecs/index.js';
import type { Rng } from './rng.js';

/**
 * Hostile payloads decoded in process: whatever the mutation, decode gives back the original (only
 * when nothing was changed), the input untouched (when the mutation made it "not ours"), or a typed
 * error — never another exception, never plaintext from an altered payload.
 */

export const DECODE_CATEGORIES = {
  untouched: 4,
  bitFlip: 40,
  truncateOrExtend: 10,
  randomFields: 14,
  arbitraryPayload: 8,
  scopeSwap: 10,
  relabelledId: 10,
  hugeField: 4,
} as const;
export type DecodeCategory = keyof typeof DECODE_CATEGORIES;

export interface DecodeFuzzContext {
  rng: Rng;
  marker: string;
  codecs: EnvelopeCodec[];
  /** [codec index, sealed payload, context it was sealed for]; each holds the marker. */
  sealed: { codec: number; payload: Payload; context: WorkflowSerializationContext }[];
}

export interface DecodeOutcome {
  violation?: string;
  /** The typed error's code, or 'ok' / 'passthrough'. */
  outcome: string;
}

const FIELDS = ['encoding', 'encryption-key-id', 'envelope-version', 'envelope-alg', 'envelope-namespace', 'envelope-workflow-id', 'envelope-dek', 'envelope-compression'];

export async function runDecodeCase(category: DecodeCategory, ctx: DecodeFuzzContext): Promise<DecodeOutcome> {
  const { rng } = ctx;
  const s = rng.pick(ctx.sealed);
  const codec = ctx.codecs[s.codec]!;
  const p = clone(s.payload);
  let context = s.context;
  switch (category) {
    case 'untouched':
      break;
    case 'bitFlip': {
      const keys = Object.keys(p.metadata!);
      const field = rng.chance(0.5) ? 'data' : rng.pick(keys);
      const bytes = field === 'data' ? p.data! : p.metadata![field]!;
      const bit = rng.int(bytes.length * 8);
      bytes[bit >> 3]! ^= 1 << (bit & 7);
      break;
    }
    case 'truncateOrExtend':
      p.data = rng.chance(0.5) ? p.data!.subarray(0, rng.int(p.data!.length)) : new Uint8Array([...p.data!, ...rng.bytes(1 + rng.int(64))]);
      break;
    case 'randomFields':
      if (rng.chance(0.5)) p.data = rng.bytes(rng.int(512));
      for (let i = 0, n = 1 + rng.int(3); i < n; i++) {
        const f = rng.pick(FIELDS.slice(1));
        if (rng.chance(0.2)) delete p.metadata![f];
        else p.metadata![f] = rng.bytes(rng.int(128));
      }
      break;
    case 'arbitraryPayload': {
      const metadata = rng.sample(fc.dictionary(fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom(...FIELDS)), fc.uint8Array({ maxLength: 64 })));
      const data = rng.bytes(rng.int(256));
      const arbitrary = { metadata, data };
      return judge(codec, arbitrary, context, ctx.marker, { untouched: false, original: arbitrary });
    }
    case 'scopeSwap':
      context = rng.pick<WorkflowSerializationContext>([
        { type: 'workflow', namespace: context.namespace, workflowId: `${context.workflowId}-other` },
        { type: 'workflow', namespace: 'other', workflowId: context.workflowId },
      ]);
      break;
    case 'relabelledId': {
      // Rewrite the sealed scope to match another context: authentication must fail.
      const id = `wf-${rng.int(1000)}-${'-'.repeat(rng.int(900))}`;
      p.metadata!['envelope-workflow-id'] = new TextEncoder().encode(id);
      context = { type: 'workflow', namespace: context.namespace, workflowId: id };
      break;
    }
    case 'hugeField':
      p.metadata![rng.pick(FIELDS.slice(1))] = new Uint8Array(rng.pick([1 << 11, 1 << 16, 1 << 20])).fill(65);
      break;
  }
  // A mutation can be a no-op (deleting a field the payload does not have): judge it as untouched.
  return judge(codec, p, context, ctx.marker, { untouched: context === s.context && equal(p, s.payload), original: s.payload });
}

async function judge(codec: EnvelopeCodec, p: Payload, context: WorkflowSerializationContext, marker: string, opts: { untouched: boolean; original: Payload }): Promise<DecodeOutcome> {
  const input = clone(p);
  let out: Payload | undefined;
  try {
    [out] = await codec.decode([p], context);
  } catch (err) {
    if (!isEnvelopeError(err)) return { outcome: 'untyped', violation: `untyped failure: ${(err as Error)?.name}: ${(err as Error)?.message}` };
    if (opts.untouched) return { outcome: err.code, violation: `an untouched payload failed: ${err.code}` };
    return { outcome: err.code };
  }
  if (!equal(p, input)) return { outcome: 'mutated', violation: 'decode mutated its input' };
  const text = Buffer.from(out?.data ?? new Uint8Array()).toString('latin1');
  if (opts.untouched) return text.includes(marker) ? { outcome: 'ok' } : { outcome: 'ok', violation: 'an untouched payload did not open' };
  if (text.includes(marker)) return { outcome: 'ok', violation: 'an altered payload opened' };
  if (!out || !equal(out, input)) return { outcome: 'ok', violation: 'an altered payload was neither refused nor passed through untouched' };
  return { outcome: 'passthrough' };
}

function clone(p: Payload): Payload {
  return { metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Uint8Array.from(v ?? [])])), data: Uint8Array.from(p.data ?? []) };
}

function equal(a: Payload, b: Payload): boolean {
  const ka = Object.keys(a.metadata ?? {});
  const kb = Object.keys(b.metadata ?? {});
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b.metadata!, k)) return false;
    if (!Buffer.from(a.metadata![k] ?? []).equals(Buffer.from(b.metadata![k] ?? []))) return false;
  }
  return Buffer.from(a.data ?? []).equals(Buffer.from(b.data ?? []));
}
