import { AsyncLocalStorage } from 'node:async_hooks';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { defaultPayloadConverter, type PayloadCodec } from '@temporalio/common';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory } from '@temporalio/worker';
import { WARRANT_HEADER } from './types.js';

/**
 * Headers are the one place the TypeScript SDK never runs the codec (sdk-typescript#514), yet
 * warrant-style authorization puts its delegation tokens exactly there. These interceptors close the
 * gap for one header: the client seals it with the codec, under the workflow's own scope, before
 * it reaches the server; workflows pass it on sealed; the activity side opens it. Other headers
 * (tracing, etc.) stay as they are.
 */

/** Client side: seal the warrant of every workflow started. `warrantFor` says which warrant a start carries. */
export function warrantClientInterceptor(codec: PayloadCodec, namespace: string, warrantFor: (workflowId: string) => string | undefined): WorkflowClientInterceptor {
  return {
    async start(input, next) {
      const warrant = warrantFor(input.options.workflowId);
      if (warrant === undefined) return next(input);
      const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(warrant)], { type: 'workflow', namespace, workflowId: input.options.workflowId });
      return next({ ...input, headers: { ...input.headers, [WARRANT_HEADER]: sealed! } });
    },
  };
}

const current = new AsyncLocalStorage<string>();

/** Inside an activity: the warrant it runs under, opened; undefined if the workflow was started without one. */
export function currentWarrant(): string | undefined {
  return current.getStore();
}

/** Worker side: open the warrant header for the activity, with the activity's serialization context. */
export function warrantActivityInterceptor(codec: PayloadCodec): ActivityInterceptorsFactory {
  return (ctx) => {
    const inbound: ActivityInboundCallsInterceptor = {
      async execute(input, next) {
        const sealed = input.headers[WARRANT_HEADER];
        if (sealed === undefined) return next(input);
        const { info } = ctx;
        const [opened] = await codec.decode([sealed], {
          type: 'activity',
          namespace: info.namespace,
          workflowId: info.workflowExecution?.workflowId,
          activityId: info.activityId,
          isLocal: info.isLocal,
        });
        return current.run(defaultPayloadConverter.fromPayload<string>(opened!), () => next(input));
      },
    };
    return { inbound };
  };
}
