/**
 * The refused-payload marker: what a codec with `markRefusedInWorkflow` returns, in a workflow
 * context, for a payload it refuses (plaintext under requireEncryption, SCOPE_MISMATCH, tampered…)
 * instead of throwing. A throw fails the whole workflow task, which Temporal retries forever, so one
 * bad signal from anyone with signal permission would stall the workflow; Go's SDK drops such a
 * signal instead. The marker lets the workflow side do the same: the interceptor in
 * codecs/workflow-interceptors.ts drops a signal that carries one and fails the task for any other
 * position (input, memo, a child's result), so everything but signals still fails closed.
 *
 * It carries the refusal's code and message (ids, never plaintext) and no data. Its encoding is one
 * no payload converter knows, so a marker that reaches one without the interceptor fails there too.
 * No imports: the interceptor is bundled into the workflow sandbox.
 */

export const REFUSED_ENCODING = 'binary/envelope-refused';
export const REFUSED_META = Object.freeze({ code: 'envelope-refused-code', reason: 'envelope-refused-reason' });

interface MarkerPayload {
  metadata?: Record<string, Uint8Array> | null;
  data?: Uint8Array | null;
}

const REFUSED_ENCODING_BYTES = new TextEncoder().encode(REFUSED_ENCODING);

/** The marker standing in for a refused payload. */
export function refusedMarker(code: string, reason: string): { metadata: Record<string, Uint8Array>; data: Uint8Array } {
  const utf8 = new TextEncoder();
  return {
    metadata: { encoding: REFUSED_ENCODING_BYTES.slice(), [REFUSED_META.code]: utf8.encode(code), [REFUSED_META.reason]: utf8.encode(reason) },
    data: new Uint8Array(0),
  };
}

/** The refusal a marker carries, or undefined when `payload` is not a marker. */
export function readRefusedMarker(payload: MarkerPayload | null | undefined): { code: string; reason: string } | undefined {
  const encoding = payload?.metadata?.encoding;
  if (!encoding || encoding.length !== REFUSED_ENCODING_BYTES.length || !encoding.every((b, i) => b === REFUSED_ENCODING_BYTES[i])) return undefined;
  const text = (bytes: Uint8Array | undefined) => (bytes ? new TextDecoder().decode(bytes) : '');
  return { code: text(payload.metadata![REFUSED_META.code]), reason: text(payload.metadata![REFUSED_META.reason]) };
}
