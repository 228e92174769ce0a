import { ApplicationFailure, condition, defineQuery, defineSignal, defineUpdate, executeChild, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type * as activities from './activities.js';
import type { Approval, GrantRequest, GrantResult, GrantStatus } from './types.js';

// Workflow code runs in the SDK's sandbox: no node crypto here. Every argument, result, signal,
// query and update value below passes the worker's codec on its way to and from history.

export const approve = defineSignal<[Approval]>('approve');
export const status = defineQuery<GrantStatus>('status');
export const amendJustification = defineUpdate<string, [string]>('amendJustification');

const { provisionAccess, notifySubject, revokeAccess } = proxyActivities<typeof activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 2, initialInterval: '100ms' },
});

/** Grant access once approved; if telling the subject fails, revoke it again (a saga's compensation). */
export async function accessGrantSaga(req: GrantRequest): Promise<GrantResult> {
  const state: GrantStatus = { stage: 'awaiting-approval', subjectEmail: req.subject.email, justification: '' };
  let approval: Approval | undefined;
  setHandler(status, () => state);
  setHandler(approve, (a) => void (approval = a));
  setHandler(amendJustification, (text) => {
    state.justification = text;
    return `justification for ${req.subject.email} set`;
  });

  if (!(await condition(() => approval !== undefined, '10 minutes'))) {
    throw ApplicationFailure.nonRetryable(`no approval for ${req.subject.email} in time`, 'ApprovalTimeout');
  }
  state.stage = 'provisioning';
  const grant = await provisionAccess(req);
  const auditRecord = await executeChild(grantAudit, {
    workflowId: `${workflowInfo().workflowId}-audit`,
    args: [{ requestId: req.requestId, subjectEmail: req.subject.email, approver: approval!.approver, grantId: grant.grantId }],
  });
  try {
    await notifySubject(req, grant);
  } catch (err) {
    await revokeAccess(grant);
    state.stage = 'compensated';
    // An ActivityFailure says "Activity task failed"; what went wrong is its cause.
    return { stage: 'compensated', grantId: grant.grantId, auditRecord, reason: (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message };
  }
  state.stage = 'granted';
  return { stage: 'granted', grantId: grant.grantId, auditRecord };
}

/** A child workflow: its own workflow id, so its payloads are sealed under its own data key. */
export async function grantAudit(entry: { requestId: string; subjectEmail: string; approver: string; grantId: string }): Promise<string> {
  return `audit ${entry.requestId}: ${entry.grantId} for ${entry.subjectEmail} approved by ${entry.approver}`;
}

/** Waits for one signal and returns it: used to show a workflow outliving a key rotation or a KMS outage. */
export const proceed = defineSignal<[string]>('proceed');
export async function waitForSignal(input: { secret: string }): Promise<string> {
  let got: string | undefined;
  setHandler(proceed, (v) => void (got = v));
  await condition(() => got !== undefined);
  return `${input.secret}:${got}`;
}

const { recordApproval } = proxyActivities<typeof activities>({ startToCloseTimeout: '30 seconds' });

/**
 * Collects `count` approvals, recording each through an activity. Long-lived and chatty: used to
 * show a running workflow going on from cached keys while KMS is down.
 */
export async function collectApprovals(count: number): Promise<string[]> {
  const pending: string[] = [];
  const recorded: string[] = [];
  setHandler(proceed, (v) => void pending.push(v));
  while (recorded.length < count) {
    await condition(() => pending.length > 0);
    recorded.push(await recordApproval(pending.shift()!));
  }
  return recorded;
}

/**
 * A report a schedule starts (`client.schedule.create({ action: { workflowId: 'nightly-report', … } })`):
 * it reads its input and its memo, which the schedule stored sealed for the action's workflow id
 * `nightly-report`, in runs the server names `nightly-report-<time>`. The codec's scheduleRuns rule
 * (on by default) is what lets each run open them.
 */
export async function scheduledReport(input: { secret: string }): Promise<string> {
  const memo = workflowInfo().memo as { customer?: unknown } | undefined;
  return `report for ${String(memo?.customer ?? 'nobody')}: ${input.secret}`;
}
