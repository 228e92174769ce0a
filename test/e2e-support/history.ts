import type { Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { forEachPayload } from '../../src/cli/usage/history-payloads.js';

const { GetWorkflowExecutionHistoryResponse } = proto.temporal.api.workflowservice.v1;

export interface RawHistory {
  /** The server's answers re-serialized as protobuf: what a reader of the history store sees. */
  bytes: Buffer;
  events: proto.temporal.api.history.v1.IHistoryEvent[];
}

/** A workflow's history straight from the server, no data converter in between. */
export async function rawHistory(connection: Connection, namespace: string, workflowId: string): Promise<RawHistory> {
  const chunks: Buffer[] = [];
  const events: proto.temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const res = await connection.workflowService.getWorkflowExecutionHistory({ namespace, execution: { workflowId }, nextPageToken });
    chunks.push(Buffer.from(GetWorkflowExecutionHistoryResponse.encode(res).finish()));
    events.push(...(res.history?.events ?? []));
    nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
  } while (nextPageToken);
  return { bytes: Buffer.concat(chunks), events };
}

export interface FoundPayload {
  eventType: string;
  path: string;
  payload: Payload;
  meta: Record<string, string>;
}

/** Every payload in the history, with the event type and field path it sits at. */
export function historyPayloads(events: readonly proto.temporal.api.history.v1.IHistoryEvent[]): FoundPayload[] {
  const out: FoundPayload[] = [];
  for (const event of events) {
    const eventType = (proto.temporal.api.enums.v1.EventType[event.eventType ?? 0] ?? String(event.eventType)).replace(/^EVENT_TYPE_/, '');
    forEachPayload(event, (payload, path) => {
      const meta = Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v as Uint8Array).toString()]));
      out.push({ eventType, path, payload, meta });
    });
  }
  return out;
}
