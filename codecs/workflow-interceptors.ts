/**
 * Workflow interceptor module for a Worker whose codec has `markRefusedInWorkflow`: register it with
 * `interceptors: { workflowModules: [require.resolve('temporal-envelope/workflow-interceptors')] }`
 * (or bundleWorkflowCode's workflowInterceptorModules). Runs inside the workflow sandbox.
 *
 * Go's SDK drops a signal whose payload the codec refuses; TypeScript's fails the workflow task,
 * every attempt, so one signal anyone with signal permission sends (plaintext, or a payload copied
 * from another workflow's history) would stall the workflow for good. Here, before the activation's
 * jobs run:
 *   - a signal carrying a refused-payload marker is dropped: never reaches a handler, a warning is
 *     logged (the refusal's code and reason: ids, no plaintext) and
 *     `temporal_envelope_refused_signals` counted. The signal stays in history; the workflow runs on.
 *   - a query or an update carrying one is left to the SDK, whose payload converter refuses the
 *     marker's encoding: the query fails, the update is rejected; the workflow runs on.
 *   - any other job carrying one (the workflow's input or memo, a child's result…) throws the
 *     refusal: the workflow task fails, as without the marker. Those still fail closed.
 * Dropping is deterministic: the same history gives the same refusals on replay.
 */
import { log, metricMeter, type WorkflowInterceptors, type WorkflowInternalsInterceptor } from '@temporalio/workflow';
import { readRefusedMarker } from '../primitives/refused-marker.js';

type Job = NonNullable<Parameters<NonNullable<WorkflowInternalsInterceptor['activate']>>[0]['activation']['jobs']>[number];

/** The first marker anywhere in `value` (a job, walked field by field), if any. */
function findRefusal(value: unknown, depth = 0): { code: string; reason: string } | undefined {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || depth > 12) return undefined;
  const marker = readRefusedMarker(value as Parameters<typeof readRefusedMarker>[0]);
  if (marker) return marker;
  for (const child of Object.values(value)) {
    const found = findRefusal(child, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Thrown for a marker outside a signal: fails the workflow task with the codec's own refusal. */
export class RefusedPayloadError extends Error {
  override readonly name = 'RefusedPayloadError';
  constructor(
    readonly code: string,
    reason: string,
  ) {
    super(`${code}: ${reason}`);
  }
}

export const refusedSignalDropper: WorkflowInternalsInterceptor = {
  activate(input, next) {
    const jobs = input.activation.jobs ?? [];
    const kept: Job[] = [];
    for (const job of jobs) {
      const refusal = findRefusal(job);
      if (refusal === undefined || job.queryWorkflow || job.doUpdate) {
        kept.push(job);
      } else if (job.signalWorkflow) {
        log.warn('temporal-envelope: dropped a signal whose payload the codec refused', { signalName: job.signalWorkflow.signalName, code: refusal.code, reason: refusal.reason });
        // Made here, not at module load: the bundle may be evaluated outside any workflow.
        metricMeter.createCounter('temporal_envelope_refused_signals', 'signals', 'Signals dropped because the codec refused their payload').add(1, { code: refusal.code });
      } else {
        throw new RefusedPayloadError(refusal.code, refusal.reason);
      }
    }
    if (kept.length === jobs.length) return next(input);
    return next({ ...input, activation: { ...input.activation, jobs: kept } });
  },
};

export const interceptors = (): WorkflowInterceptors => ({ internals: [refusedSignalDropper] });
