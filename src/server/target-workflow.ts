import { utf8Strict } from '../../primitives/bytes.js';
import { isEnvelopeError } from '../../primitives/errors.js';
import { makeScope } from '../../primitives/scope.js';
import { badRequest } from './http-errors.js';

/**
 * `X-Envelope-Workflow-Id`: this server's extension to Temporal's codec protocol. The caller names
 * the workflow the payloads belong to: /encode seals for it, /decode opens only what a worker in it
 * would accept. The Temporal UI never sends it; scripts, the `temporal` CLI (`--codec-header
 * X-Envelope-Workflow-Id=<id>`) and remote-codec workers in other languages do.
 *
 * The value is the id's UTF-8 bytes, percent-encoded where a header cannot carry them as they are:
 * `%XX` is always a byte, so `%` itself is sent as `%25`, and an id with control characters,
 * leading or trailing spaces or (from a browser) non-ASCII characters is sent as
 * `encodeURIComponent(id)`. Anything else may be sent raw. The decoded bytes must be strict UTF-8
 * (a leading U+FEFF is kept) and a valid workflow id (non-empty, at most 1024 bytes).
 */
export const TARGET_WORKFLOW_HEADER = 'x-envelope-workflow-id';

/** The target workflow id of a request, or undefined when the header is absent. Throws a 400 naming the header otherwise. */
export function targetWorkflowId(headers: Record<string, string | string[] | undefined>, namespace: string): string | undefined {
  const raw = headers[TARGET_WORKFLOW_HEADER];
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) throw badRequest('X-Envelope-Workflow-Id given more than once; name one workflow');
  // Node hands header values over byte for byte as latin1 characters: get the bytes back.
  const bytes = percentDecode(Buffer.from(raw, 'latin1'));
  if (bytes === undefined) throw badRequest('X-Envelope-Workflow-Id has a "%" that is not followed by two hex digits (send "%" as %25)');
  let id: string;
  try {
    id = utf8Strict.decode(bytes);
  } catch {
    throw badRequest('X-Envelope-Workflow-Id is not UTF-8 (after percent-decoding)');
  }
  try {
    makeScope(namespace, id);
  } catch (err) {
    if (isEnvelopeError(err)) throw badRequest(`X-Envelope-Workflow-Id: ${err.message}`);
    throw err;
  }
  return id;
}

function percentDecode(input: Buffer): Uint8Array | undefined {
  const out = new Uint8Array(input.length);
  let n = 0;
  for (let i = 0; i < input.length; i++) {
    const b = input[i]!;
    if (b !== 0x25) {
      out[n++] = b;
      continue;
    }
    const hi = hexValue(input[i + 1]);
    const lo = hexValue(input[i + 2]);
    if (hi === undefined || lo === undefined) return undefined;
    out[n++] = (hi << 4) | lo;
    i += 2;
  }
  return out.subarray(0, n);
}

function hexValue(c: number | undefined): number | undefined {
  if (c === undefined) return undefined;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return undefined;
}
