import type { Payload } from '@temporalio/common';
import type { ActivityInput, Next, WorkflowExecuteInput, WorkflowInboundCallsInterceptor, WorkflowInterceptors, WorkflowOutboundCallsInterceptor } from '@temporalio/workflow';
import { WARRANT_HEADER } from './types.js';

/**
 * Carries the warrant header from the workflow's start to every activity it schedules. It stays
 * sealed here: the sandbox has no async crypto, and the workflow never needs to read it. Only the
 * activity interceptor (warrant.ts) opens it. The SDK calls this factory once per workflow run, so
 * the closure is that run's own.
 */
export const interceptors = (): WorkflowInterceptors => {
  let warrant: Payload | undefined;
  const inbound: WorkflowInboundCallsInterceptor = {
    async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>) {
      warrant = input.headers[WARRANT_HEADER];
      return next(input);
    },
  };
  const outbound: WorkflowOutboundCallsInterceptor = {
    async scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) {
      return next(warrant ? { ...input, headers: { ...input.headers, [WARRANT_HEADER]: warrant } } : input);
    },
  };
  return { inbound: [inbound], outbound: [outbound] };
};
