import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type * as activities from './activities.js';
import type { BenchApproval, BenchInput, BenchResult } from './types.js';

export const approve = defineSignal<[BenchApproval]>('approve');

const { provision, recordGrant } = proxyActivities<typeof activities>({ startToCloseTimeout: '30 seconds' });

/** The benchmark's workflow: an input, two activities and a signal, every one a payload through the codec. */
export async function benchWorkflow(input: BenchInput): Promise<BenchResult> {
  let approval: BenchApproval | undefined;
  setHandler(approve, (a) => void (approval = a));
  const grant = await provision(input);
  await condition(() => approval !== undefined);
  const receipt = await recordGrant(grant, approval!);
  return { requestId: input.requestId, grantId: grant.grantId, receipt };
}
