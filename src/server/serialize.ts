import type { Payload } from '@temporalio/common';

/**
 * The codec protocol's reply, `{"payloads":[{"metadata":{"<key>":"<base64>"},"data":"<base64>"}]}`,
 * written straight from the payloads' bytes: no intermediate proto3-JSON objects and no generic
 * serializer walking them. Only `metadata` and `data` are written, the same guarantee the response
 * schema gives (nothing else on a payload can leak out). Base64 needs no JSON escaping; metadata
 * keys are arbitrary strings and go through JSON.stringify. Same output as
 * `JSON.stringify(payloadsToJson(payloads))` (test/serialize.test.ts pins it), at about a third of
 * its cost for a page of 1 KB payloads.
 */
export function serializePayloads(payloads: readonly Payload[]): string {
  let out = '{"payloads":[';
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i]!;
    out += i === 0 ? '{"metadata":{' : ',{"metadata":{';
    let first = true;
    const metadata = p.metadata;
    if (metadata) {
      for (const key of Object.keys(metadata)) {
        const value = metadata[key];
        if (value == null) continue;
        out += `${first ? '' : ','}${JSON.stringify(key)}:"${base64(value)}"`;
        first = false;
      }
    }
    out += `},"data":"${p.data ? base64(p.data) : ''}"}`;
  }
  return `${out}]}`;
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
