import type { Scope } from '../../primitives/scope.js';

/**
 * Which workflow and key ids an audit line may state as facts. They come from payload headers, and
 * whoever sent the request wrote those. A payload that opened had them authenticated: the AEAD
 * binds namespace, workflow id and key id as additional data, so they are the ones it was sealed
 * with (*verified*). Every other payload of ours — refused by policy, left sealed, failed (tampered,
 * unknown or retired key) — only *claims* them: an attacker who relabels a payload chooses the
 * workflow id a denial is logged under. The two never share a field, so a SIEM rule on
 * `verifiedWorkflowIds` cannot be steered by a caller, and one on `claimedWorkflowIds` knows what
 * it is reading.
 */
export interface AuditIds {
  /** From payloads that opened (or, for /encode, that this server sealed). */
  verifiedWorkflowIds?: string[];
  verifiedKeyIds?: string[];
  /** From the headers of payloads that did not open. */
  claimedWorkflowIds?: string[];
  claimedKeyIds?: string[];
}

export const AUDIT_ID_FIELDS = ['verifiedWorkflowIds', 'verifiedKeyIds', 'claimedWorkflowIds', 'claimedKeyIds'] as const;

/**
 * The ids of every payload of ours whose header was read, each distinct id once per field. An
 * item counts as verified only with status `decoded`; items without a status (headers read, not
 * yet opened: the batch refused by `onDeny: forbid`) are claims.
 */
export function auditIds(items: readonly { status?: string; scope?: Scope | undefined; keyId?: string | undefined }[]): Required<AuditIds> {
  const sets = { verifiedWorkflowIds: new Set<string>(), verifiedKeyIds: new Set<string>(), claimedWorkflowIds: new Set<string>(), claimedKeyIds: new Set<string>() };
  for (const { status, scope, keyId } of items) {
    const verified = status === 'decoded';
    if (scope?.workflowId !== undefined) (verified ? sets.verifiedWorkflowIds : sets.claimedWorkflowIds).add(scope.workflowId);
    if (keyId !== undefined) (verified ? sets.verifiedKeyIds : sets.claimedKeyIds).add(keyId);
  }
  return {
    verifiedWorkflowIds: [...sets.verifiedWorkflowIds],
    verifiedKeyIds: [...sets.verifiedKeyIds],
    claimedWorkflowIds: [...sets.claimedWorkflowIds],
    claimedKeyIds: [...sets.claimedKeyIds],
  };
}
