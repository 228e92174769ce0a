import { createHash, randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Grant, GrantRequest } from './types.js';
import { currentWarrant } from './warrant.js';

// Activity results and failures are sensitive too: a provisioned credential, a message naming the subject.

export async function provisionAccess(req: GrantRequest): Promise<Grant> {
  const warrant = currentWarrant();
  if (warrant === undefined) throw ApplicationFailure.nonRetryable('no warrant: refusing to provision without authority', 'NoWarrant');
  return {
    grantId: `grant-${createHash('sha256').update(req.requestId).digest('hex').slice(0, 12)}`,
    credential: `pw_${randomBytes(18).toString('base64url')}`,
    actingFor: warrant,
  };
}

export async function notifySubject(req: GrantRequest, grant: Grant): Promise<string> {
  if (req.failNotification) {
    throw ApplicationFailure.nonRetryable(`mailbox ${req.subject.email} (${req.subject.name}) rejected the grant notice for ${grant.grantId}`, 'NotificationFailed');
  }
  return `sent to ${req.subject.email}`;
}

export async function revokeAccess(grant: Grant): Promise<void> {
  void grant;
}

export async function recordApproval(approval: string): Promise<string> {
  return `recorded:${approval}`;
}
