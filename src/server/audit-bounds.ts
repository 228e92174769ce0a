import { createHash } from 'node:crypto';
import { AUDIT_ID_FIELDS, type AuditIds } from './audit-ids.js';

/**
 * How large one audit line may grow. The ids in it come from payload headers a caller wrote (see
 * audit-ids.ts), up to 1,000 payloads a request with ids of any length: left alone, 30 payloads
 * with 1 KiB ids and key ids made one 62 KB line, and a log pipeline that truncates or drops long
 * lines would lose the record. Three caps, each keeping what a reader needs:
 *
 * - at most MAX_IDS_PER_FIELD ids per field; `idCounts` keeps how many distinct ids there were;
 * - each id (and the principal, and the client address) at most MAX_ID_CHARS characters: a
 *   longer one keeps its first ID_HEAD_CHARS characters and ends in `…[<length> chars,
 *   sha256:<12 hex>]`, so two long ids that share a beginning still read as different;
 * - the audit object at most MAX_AUDIT_BYTES of JSON: past that, ids are dropped from the end,
 *   claimed ones before verified ones, and `idsOmitted` says how many.
 *
 * Everything else in a line is bounded by construction (codes, counts, a namespace of at most 255
 * characters), so with pino's own fields a whole line stays under AUDIT_LINE_LIMIT_BYTES.
 */
export const MAX_IDS_PER_FIELD = 20;
export const MAX_ID_CHARS = 128;
const ID_HEAD_CHARS = 64;
export const MAX_AUDIT_BYTES = 7 * 1024;
/** Room kept for `,"idsOmitted":<n>`, added after the ids are dropped. */
const OMITTED_FIELD_BYTES = 24;
/** What a whole audit line (pino's level, time, pid, hostname, service and msg included) stays under. */
export const AUDIT_LINE_LIMIT_BYTES = 8 * 1024;

/** Bound a record's ids, principal and address; other fields pass through unchanged. */
export function boundAuditRecord<T extends AuditIds & { principal?: string | null; remoteAddress?: string | undefined }>(record: T): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(record as Record<string, unknown>) };
  if (typeof record.principal === 'string') out.principal = boundId(record.principal);
  if (record.remoteAddress !== undefined) out.remoteAddress = boundId(record.remoteAddress);

  const idCounts: Record<string, number> = {};
  const lists: { field: (typeof AUDIT_ID_FIELDS)[number]; ids: string[] }[] = [];
  for (const field of AUDIT_ID_FIELDS) {
    const ids = record[field];
    delete out[field];
    if (ids === undefined) continue;
    idCounts[field] = ids.length;
    if (ids.length > 0) lists.push({ field, ids: ids.slice(0, MAX_IDS_PER_FIELD).map(boundId) });
  }
  if (Object.keys(idCounts).length === 0) return out;
  for (const { field, ids } of lists) out[field] = ids;
  out.idCounts = idCounts;

  // Over the byte budget: drop ids from the end, claimed first (the caller chose them), until it fits.
  let size = jsonBytes(out);
  let omitted = 0;
  for (const field of ['claimedKeyIds', 'claimedWorkflowIds', 'verifiedKeyIds', 'verifiedWorkflowIds'] as const) {
    const ids = out[field] as string[] | undefined;
    while (ids !== undefined && ids.length > 0 && size > MAX_AUDIT_BYTES - OMITTED_FIELD_BYTES) {
      size -= jsonBytes(ids.pop()) + 1;
      omitted++;
    }
    if (ids !== undefined && ids.length === 0) delete out[field];
  }
  if (omitted > 0) out.idsOmitted = omitted;
  return out;
}

/** An id short enough to log: itself, or its beginning with its length and a hash of all of it. */
export function boundId(id: string): string {
  if (id.length <= MAX_ID_CHARS) return id;
  // Never cut a surrogate pair in two: half a character would serialize as an escape, or worse.
  const cut = isHighSurrogate(id.charCodeAt(ID_HEAD_CHARS - 1)) ? ID_HEAD_CHARS - 1 : ID_HEAD_CHARS;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 12);
  return `${id.slice(0, cut)}…[${id.length} chars, sha256:${hash}]`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}
