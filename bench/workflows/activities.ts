import { createHash } from 'node:crypto';
import type { BenchApproval, BenchGrant, BenchInput } from './types.js';

// Two activities per workflow, each with a sealed input and a sealed result: no I/O, so the
// benchmark measures Temporal, the codec and KMS, not a fake database.

export async function provision(req: BenchInput): Promise<BenchGrant> {
  const grantId = `grant-${createHash('sha256').update(req.requestId).digest('hex').slice(0, 12)}`;
  return { grantId, credential: `pw_${createHash('sha256').update(req.delegationToken).digest('base64url').slice(0, 24)}` };
}

export async function recordGrant(grant: BenchGrant, approval: BenchApproval): Promise<string> {
  return `${grant.grantId} approved by ${approval.approver}: ${approval.note}`;
}
