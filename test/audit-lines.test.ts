import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec, makeScope } from '../codecs/index.js';
import { payloadsToJson } from '../codecs/payload-json.js';
import { AUDIT_LINE_LIMIT_BYTES, MAX_AUDIT_BYTES, MAX_ID_CHARS, MAX_IDS_PER_FIELD, boundAuditRecord, boundId } from '../src/server/audit-bounds.js';
import { buildTestServer, token } from './support/server-harness.js';
import { jsonPayload } from './support/payloads.js';

/**
 * Audit lines state as facts only what the AEAD authenticated, and stay bounded whatever ids a
 * caller writes into payload headers (issue 15, item 9).
 */

const alice = token('alice', ['tenant-a-ops']); // may decode tenant-a/* only
const root = token('root');
let srv: Awaited<ReturnType<typeof buildTestServer>>;
let sealedA: JsonPayload;
let sealedB: JsonPayload;

type JsonPayload = { metadata: Record<string, string>; data: string };
const b64 = (s: string) => Buffer.from(s).toString('base64');
/** The payload with header fields rewritten, as anyone holding a copy of it can. */
const relabel = (p: JsonPayload, fields: { workflowId?: string; keyId?: string }): JsonPayload => ({
  ...p,
  metadata: {
    ...p.metadata,
    ...(fields.workflowId !== undefined ? { 'envelope-workflow-id': b64(fields.workflowId) } : {}),
    ...(fields.keyId !== undefined ? { 'encryption-key-id': b64(fields.keyId) } : {}),
  },
});

beforeAll(async () => {
  srv = await buildTestServer({
    auth: { staticTokens: [alice.entry, root.entry] },
    policy: {
      rules: [
        { groups: ['tenant-a-ops'], namespaces: ['default'], workflowIdPatterns: ['tenant-a/*'], actions: ['decode'] },
        { principals: ['root'], namespaces: ['default'], actions: ['decode', 'encode'] },
      ],
    },
    server: { maxPayloadsPerRequest: 100 },
  });
  const codec = new EnvelopeCodec({ keyProviders: srv.keyring });
  const seal = async (wf: string) => payloadsToJson(await codec.encodeInScope([jsonPayload({ wf })], makeScope('default', wf))).payloads[0] as JsonPayload;
  sealedA = await seal('tenant-a/grant-1');
  sealedB = await seal('tenant-b/grant-2');
});
afterAll(async () => {
  await srv?.app.close();
});

const decode = (who: string, payloads: unknown[]) =>
  srv.app.inject({ method: 'POST', url: '/decode', payload: { payloads }, headers: { 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${who}` } });
const lastAuditLine = () => srv.lines.filter((l) => l.includes('"audit"')).at(-1)!;
const lastAudit = () => (JSON.parse(lastAuditLine()) as { audit: Record<string, unknown> }).audit;

describe('audit lines say which ids were verified', () => {
  it('a payload that opened is verified; a denied one, a relabelled one, a failed one only claim their ids', async () => {
    const keyId = Buffer.from(sealedA.metadata['encryption-key-id']!, 'base64').toString();
    // Alice relabels her own tenant's payload as another tenant's workflow: the policy refuses it,
    // and the line must not state as a fact that tenant-b/merger-plans was touched.
    const relabelled = relabel(sealedA, { workflowId: 'tenant-b/merger-plans' });
    expect((await decode(alice.value, [sealedA, relabelled, sealedB])).statusCode).toBe(200);
    const line = lastAudit();
    expect(line).toMatchObject({ decision: 'partial', counts: { decoded: 1, leftSealed: 2 } });
    expect(line.verifiedWorkflowIds).toEqual(['tenant-a/grant-1']);
    expect(line.verifiedKeyIds).toEqual([keyId]);
    expect(line.claimedWorkflowIds).toEqual(['tenant-b/merger-plans', 'tenant-b/grant-2']);
    expect(line.claimedKeyIds).toEqual([keyId]);
    expect(line.idCounts).toEqual({ verifiedWorkflowIds: 1, verifiedKeyIds: 1, claimedWorkflowIds: 2, claimedKeyIds: 1 });
    expect(line).not.toHaveProperty('workflowIds');
    expect(line).not.toHaveProperty('keyIds');

    // Allowed by policy but relabelled: the AEAD refuses it (422), and its ids stay claims.
    expect((await decode(root.value, [relabel(sealedB, { workflowId: 'tenant-b/other' })])).statusCode).toBe(422);
    expect(lastAudit()).toMatchObject({ decision: 'invalid', error: 'TAMPERED_CIPHERTEXT', claimedWorkflowIds: ['tenant-b/other'], claimedKeyIds: [keyId] });
    expect(lastAudit()).not.toHaveProperty('verifiedWorkflowIds');

    // /encode: the key id is this server's choice, not the caller's.
    const enc = await srv.app.inject({ method: 'POST', url: '/encode', payload: payloadsToJson([jsonPayload('x')]), headers: { 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${root.value}` } });
    expect(enc.statusCode).toBe(200);
    expect(lastAudit()).toMatchObject({ route: '/encode', verifiedKeyIds: [keyId], idCounts: { verifiedKeyIds: 1 } });
  });
});

describe('audit lines are bounded', () => {
  // The numbers: 30 payloads with 1 KiB workflow ids and key ids made one 62 KB line.
  const longIds = Array.from({ length: 30 }, (_, i) => ({ workflowId: `tenant-b/${String(i).padStart(2, '0')}${'w'.repeat(1013)}`, keyId: `local-${i}-${'k'.repeat(1014)}` }));

  for (const [who, status, decision] of [
    ['alice', 200, 'denied'],
    ['root', 422, 'invalid'],
  ] as const) {
    it(`30 payloads with 1 KiB ids and key ids (${who}: ${decision}) make a line under ${AUDIT_LINE_LIMIT_BYTES} bytes that still tells them apart`, async () => {
      expect(Buffer.byteLength(longIds[0]!.workflowId)).toBe(1024);
      const res = await decode(who === 'alice' ? alice.value : root.value, longIds.map((ids) => relabel(sealedA, ids)));
      expect(res.statusCode).toBe(status);
      const raw = lastAuditLine();
      expect(Buffer.byteLength(raw)).toBeLessThan(AUDIT_LINE_LIMIT_BYTES);
      const line = lastAudit();
      expect(line).toMatchObject({ decision, idCounts: { claimedWorkflowIds: 30, claimedKeyIds: 30 } });
      for (const field of ['claimedWorkflowIds', 'claimedKeyIds']) {
        const ids = line[field] as string[];
        expect(ids.length).toBeGreaterThan(0);
        expect(ids.length).toBeLessThanOrEqual(MAX_IDS_PER_FIELD);
        expect(new Set(ids).size, 'distinct ids stay distinct').toBe(ids.length);
        for (const id of ids) expect(id).toMatch(/^.{64}…\[10\d\d chars, sha256:[0-9a-f]{12}\]$/u);
      }
      // The first logged id is the first payload's: its beginning and a hash of all of it.
      expect((line.claimedWorkflowIds as string[])[0]).toBe(boundId(longIds[0]!.workflowId));
    });
  }
});

describe('boundId and boundAuditRecord', () => {
  it('leave short ids alone, and cut long ones without splitting a character, keeping length and hash', () => {
    expect(boundId('tenant-a/grant-1')).toBe('tenant-a/grant-1');
    const edge = 'x'.repeat(MAX_ID_CHARS);
    expect(boundId(edge)).toBe(edge);
    const a = `${'p'.repeat(100)}a`;
    const b = `${'p'.repeat(100)}b`;
    expect(boundId(a)).not.toBe(boundId(b));
    expect(boundId(a).startsWith('p'.repeat(64))).toBe(true);
    // A surrogate pair straddling the cut stays whole (or goes whole).
    const emoji = `${'e'.repeat(63)}😀${'e'.repeat(100)}`;
    const cut = boundId(emoji);
    expect(cut).toMatch(/^e{63}…\[165 chars, sha256:[0-9a-f]{12}\]$/);
    expect(Buffer.from(cut).toString(), 'no lone surrogate (UTF-8 would replace it)').toBe(cut);
  });

  it('keep the whole record within its byte budget, dropping claimed ids before verified ones, and say how many', () => {
    const wide = (tag: string, i: number) => `${tag}-${i}-${'€'.repeat(60)}`; // 3 bytes a character: about 190 bytes an id
    const ids = (tag: string) => Array.from({ length: 40 }, (_, i) => wide(tag, i));
    const record = { route: '/decode', principal: 'p'.repeat(5000), namespace: 'default', verifiedWorkflowIds: ids('vw'), verifiedKeyIds: ids('vk'), claimedWorkflowIds: ids('cw'), claimedKeyIds: ids('ck') };
    const out = boundAuditRecord(record);
    expect(Buffer.byteLength(JSON.stringify(out))).toBeLessThanOrEqual(MAX_AUDIT_BYTES);
    expect(out.idCounts).toEqual({ verifiedWorkflowIds: 40, verifiedKeyIds: 40, claimedWorkflowIds: 40, claimedKeyIds: 40 });
    expect(out).not.toHaveProperty('claimedKeyIds');
    expect(out).not.toHaveProperty('claimedWorkflowIds');
    expect((out.verifiedWorkflowIds as string[]).length).toBe(MAX_IDS_PER_FIELD);
    const kept = ['verifiedWorkflowIds', 'verifiedKeyIds', 'claimedWorkflowIds', 'claimedKeyIds'].reduce((n, f) => n + ((out[f] as string[] | undefined)?.length ?? 0), 0);
    expect(out.idsOmitted).toBe(4 * MAX_IDS_PER_FIELD - kept);
    expect((out.principal as string).length).toBeLessThan(MAX_ID_CHARS);
    expect(record.verifiedWorkflowIds).toHaveLength(40); // the input is not changed
  });
});
