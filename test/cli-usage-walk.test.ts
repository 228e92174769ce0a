import type { Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { buildQuery } from '../src/cli/usage/scan.js';
import { forEachPayload } from '../src/cli/usage/history-payloads.js';

/**
 * The history walk must find payloads wherever an event keeps them: a payload it misses would let
 * `keys retire` retire a key that history still needs.
 */

const HistoryEvent = proto.temporal.api.history.v1.HistoryEvent;
const p = (tag: string) => ({ metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new TextEncoder().encode(JSON.stringify(tag)) });
const tags = (event: unknown) => {
  const found: string[] = [];
  forEachPayload(event, (payload: Payload) => found.push(JSON.parse(new TextDecoder().decode(payload.data ?? new Uint8Array())) as string));
  return found.sort();
};

describe('forEachPayload', () => {
  it('finds inputs, memo, headers, search attributes and user metadata of a decoded start event', () => {
    const bytes = HistoryEvent.encode(
      HistoryEvent.fromObject({
        eventId: 1,
        workflowExecutionStartedEventAttributes: {
          input: { payloads: [p('input-1'), p('input-2')] },
          memo: { fields: { m: p('memo') } },
          header: { fields: { h: p('header') } },
          searchAttributes: { indexedFields: { s: p('search') } },
          continuedFailure: { message: 'x', encodedAttributes: p('failure-attrs'), cause: { encodedAttributes: p('cause-attrs') } },
        },
        userMetadata: { summary: p('summary'), details: p('details') },
      }),
    ).finish();
    const decoded = HistoryEvent.decode(bytes);
    expect(tags(decoded)).toEqual(['cause-attrs', 'details', 'failure-attrs', 'header', 'input-1', 'input-2', 'memo', 'search', 'summary']);
  });

  it('finds results and failures of activity and child events', () => {
    const events = [
      { eventId: 5, activityTaskCompletedEventAttributes: { result: { payloads: [p('result')] } } },
      { eventId: 6, activityTaskFailedEventAttributes: { failure: { encodedAttributes: p('act-failure'), applicationFailureInfo: { details: { payloads: [p('details')] } } } } },
      { eventId: 7, workflowExecutionSignaledEventAttributes: { input: { payloads: [p('signal')] } } },
    ].map((e) => HistoryEvent.decode(HistoryEvent.encode(HistoryEvent.fromObject(e)).finish()));
    expect(tags(events)).toEqual(['act-failure', 'details', 'result', 'signal']);
  });
});

describe('buildQuery', () => {
  it('selects workflows open since --since (running, or closed after it) and started before --until', () => {
    expect(buildQuery({})).toBe('');
    expect(buildQuery({ since: new Date('2026-01-01T00:00:00Z'), until: new Date('2026-02-01T00:00:00Z'), query: "WorkflowType = 'Order'" })).toBe(
      "(ExecutionStatus = 'Running' OR CloseTime >= '2026-01-01T00:00:00.000Z') AND StartTime <= '2026-02-01T00:00:00.000Z' AND (WorkflowType = 'Order')",
    );
  });
});
