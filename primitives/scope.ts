import type { SerializationContext } from '@temporalio/common';
import { concat, utf8 } from './bytes.js';
import { MalformedPayloadError } from './errors.js';

/**
 * What a payload is sealed to: always a namespace, and a workflow id when the SDK told us which
 * workflow the payload belongs to. The scope picks the data key and is bound into the AEAD's
 * additional data, so a payload cut from one workflow fails to open in another.
 */
export interface Scope {
  readonly namespace: string;
  /** Absent for namespace-scoped payloads (e.g. the Temporal UI's /encode, which only knows the namespace). */
  readonly workflowId?: string | undefined;
}

/** The most UTF-8 bytes a namespace or workflow id may take in a header (Go and Python codecs alike). */
export const MAX_SCOPE_FIELD_BYTES = 1024;

/**
 * A scope for sealing or checking. Every namespace and workflow id is stored as UTF-8 in the header
 * and compared byte for byte, so only strings that UTF-8 carries exactly are accepted: a lone
 * surrogate (which TextEncoder would silently turn into U+FFFD, so the payload would name another
 * workflow) is refused here, as are empty and over-long ids. NUL and a leading U+FEFF are ordinary
 * characters and round-trip. Throws MalformedPayloadError naming the field and the rule.
 */
export function makeScope(namespace: string, workflowId?: string): Scope {
  checkScopeField('namespace', namespace);
  if (workflowId === undefined) return Object.freeze({ namespace });
  checkScopeField('workflowId', workflowId);
  return Object.freeze({ namespace, workflowId });
}

// With the `u` flag a surrogate pair is one code point, so only unpaired halves match.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function checkScopeField(name: 'namespace' | 'workflowId', value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new MalformedPayloadError(`scope "${name}" expected a non-empty string${name === 'workflowId' ? ' when present' : ''}`);
  }
  const surrogate = LONE_SURROGATE.exec(value);
  if (surrogate !== null) {
    throw new MalformedPayloadError(
      `scope "${name}" is not well-formed Unicode (a lone surrogate at index ${surrogate.index}): UTF-8 cannot carry it, so it would not read back as the same id`,
    );
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_SCOPE_FIELD_BYTES) {
    throw new MalformedPayloadError(`scope "${name}" expected at most ${MAX_SCOPE_FIELD_BYTES} UTF-8 bytes, got ${bytes}`);
  }
}

/**
 * The scope for an SDK serialization context. An activity context that names its workflow is sealed
 * to that workflow; without a workflow id (standalone activities) it falls back to the namespace.
 */
export function scopeFromContext(context: SerializationContext | undefined, defaultNamespace: string): Scope {
  if (context === undefined) return makeScope(defaultNamespace);
  const namespace = context.namespace || defaultNamespace;
  const workflowId = 'workflowId' in context ? context.workflowId : undefined;
  return makeScope(namespace, workflowId || undefined);
}

/** A stable string for maps and logs: namespace and workflow id are length-prefixed so no two scopes collide. */
export function scopeKey(scope: Scope): string {
  const wf = scope.workflowId ?? '';
  return `${scope.namespace.length}:${scope.namespace}|${scope.workflowId === undefined ? '-' : `${wf.length}:${wf}`}`;
}

/** The scope as a KMS encryption context (AWS KMS `EncryptionContext`, local keyring AAD). */
export function scopeToEncryptionContext(scope: Scope): Record<string, string> {
  const ctx: Record<string, string> = { 'temporal-namespace': scope.namespace };
  if (scope.workflowId !== undefined) ctx['temporal-workflow-id'] = scope.workflowId;
  return ctx;
}

const NO_WORKFLOW = new Uint8Array([0]);
const WORKFLOW = new Uint8Array([1]);

/**
 * The workflow half of a scope in the length-prefixed byte lists that bind it (payload additional
 * data, the local keyring's wrap, the shreddable key derivation): 0x00 for "no workflow id", else
 * 0x01 followed by the id's UTF-8, so no workflow id can look like its absence. Takes the bytes so
 * decoding can use a header's bytes as they are.
 */
export function workflowField(workflowId: Uint8Array | undefined): Uint8Array {
  return workflowId === undefined ? NO_WORKFLOW : concat([WORKFLOW, workflowId]);
}

/** The scope as the two fields every binding puts in its list: the namespace, then workflowField. */
export function scopeFields(scope: Scope): [namespace: Uint8Array, workflow: Uint8Array] {
  return [utf8.encode(scope.namespace), workflowField(scope.workflowId === undefined ? undefined : utf8.encode(scope.workflowId))];
}

/** How messages name a scope: `workflow "w" in namespace "n"`, or `namespace "n" (namespace scope)`. */
export function describeScope(scope: Scope): string {
  return scope.workflowId === undefined
    ? `namespace ${JSON.stringify(scope.namespace)} (namespace scope)`
    : `workflow ${JSON.stringify(scope.workflowId)} in namespace ${JSON.stringify(scope.namespace)}`;
}
