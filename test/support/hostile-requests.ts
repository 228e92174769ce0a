/**
 * Hostile HTTP requests to /decode with the status each may get, shared by the bounded fuzz in
 * `npm test` (test/fuzz-server.test.ts) and the long one (`npm run fuzz`). Each request is sent
 * with JSON content type, `X-Namespace: default` and a valid bearer token unless it says otherwise
 * (`contentType: ''` sends none), to a server with bodyLimitBytes 256 KiB and maxPayloadsPerRequest
 * 100. A few hold header bytes that node's HTTP client refuses to send on a real socket (NUL).
 */
export interface HostileRequest {
  url?: string;
  body?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

const deep = '['.repeat(100_000) + ']'.repeat(100_000);

export const HOSTILE_CORPUS: [name: string, request: HostileRequest, statuses: number[]][] = [
  ['empty body', { body: '' }, [400]],
  ['not JSON', { body: 'payloads=1' }, [400]],
  ['truncated JSON', { body: '{"payloads":[{"data":"' }, [400]],
  ['deeply nested JSON', { body: deep }, [400, 413]],
  ['huge string', { body: JSON.stringify({ payloads: [{ data: 'A'.repeat(300 * 1024) }] }) }, [413]],
  ['too many payloads', { body: JSON.stringify({ payloads: Array.from({ length: 101 }, () => ({ data: '' })) }) }, [400]],
  ['payloads not an array', { body: '{"payloads":"x"}' }, [400]],
  ['payloads null', { body: '{"payloads":null}' }, [400]],
  ['top-level array', { body: '[]' }, [400]],
  ['bad base64 data', { body: JSON.stringify({ payloads: [{ metadata: {}, data: '!!!' }] }) }, [400]],
  ['bad base64 metadata', { body: JSON.stringify({ payloads: [{ metadata: { encoding: 'é' }, data: '' }] }) }, [400]],
  ['__proto__ metadata key', { body: '{"payloads":[{"metadata":{"__proto__":"YQ=="},"data":""}]}' }, [200, 400]],
  ['constructor metadata key', { body: '{"payloads":[{"metadata":{"constructor":"YQ=="},"data":""}]}' }, [200, 400]],
  ['NUL in namespace header', { body: '{"payloads":[]}', headers: { 'x-namespace': 'de\u0000fault' } }, [400]],
  ['unicode namespace header', { body: '{"payloads":[]}', headers: { 'x-namespace': 'n\u00e4mespace' } }, [400]],
  ['very long namespace', { body: '{"payloads":[]}', headers: { 'x-namespace': 'n'.repeat(300) } }, [400]],
  ['lone surrogate in JSON string', { body: '{"payloads":[{"metadata":{"\\ud800":"YQ=="},"data":""}]}' }, [200, 400]],
  ['text/plain', { body: '{"payloads":[]}', contentType: 'text/plain' }, [415]],
  ['multipart', { body: '--x\r\n\r\n--x--', contentType: 'multipart/form-data; boundary=x' }, [415]],
  ['no content type', { body: '{"payloads":[]}', contentType: '' }, [415]],
  ['form-urlencoded', { body: 'payloads=%5B%5D', contentType: 'application/x-www-form-urlencoded' }, [415]],
  ['JSON with BOM', { body: '\ufeff{"payloads":[]}' }, [200, 400]],
  ['binary garbage', { body: Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]) }, [400]],
  ['JSON with charset', { body: '{"payloads":[]}', contentType: 'application/json; charset=utf-8' }, [200]],
  ['application/jsonx', { body: '{"payloads":[]}', contentType: 'application/jsonx' }, [415]],
  ['bad bearer', { body: '{"payloads":[]}', headers: { authorization: 'Bearer ' } }, [401]],
  ['basic auth', { body: '{"payloads":[]}', headers: { authorization: 'Basic YTpi' } }, [401]],
  ['huge token', { body: '{"payloads":[]}', headers: { authorization: `Bearer ${'a'.repeat(8000)}` } }, [401]],
  ['JWT-shaped garbage', { body: '{"payloads":[]}', headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' } }, [401]],
  ['unknown route', { url: '/decode/x', body: '{"payloads":[]}' }, [404]],
  ['path and header namespace disagree', { url: '/other/decode', body: '{"payloads":[]}' }, [400]],
];
