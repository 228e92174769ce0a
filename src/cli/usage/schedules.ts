import type { Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type proto from '@temporalio/proto';
import { forEachPayload } from './history-payloads.js';

type WorkflowService = Connection['workflowService'];
export type DescribedSchedule = proto.temporal.api.workflowservice.v1.DescribeScheduleResponse;

/**
 * The schedules of a namespace as the server stores them, through the raw WorkflowService (as the
 * history scan does): the high-level ScheduleClient would run the stored payloads through a data
 * converter, and reading them needs no key.
 */
export async function* listScheduleIds(service: WorkflowService, namespace: string): AsyncGenerator<string> {
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await service.listSchedules({ namespace, maximumPageSize: 1000, ...(nextPageToken === undefined ? {} : { nextPageToken }) });
    for (const entry of page.schedules ?? []) if (entry.scheduleId) yield entry.scheduleId;
    nextPageToken = page.nextPageToken != null && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
  } while (nextPageToken !== undefined);
}

export async function describeSchedule(service: WorkflowService, namespace: string, scheduleId: string): Promise<DescribedSchedule> {
  return (await service.describeSchedule({ namespace, scheduleId })) as DescribedSchedule;
}

/**
 * Every payload a schedule stores, where it is: `schedule` (the action's input, memo, header and
 * user-metadata summary and details, which every run it starts receives) and `memo` (the
 * schedule's own memo); search attributes are payloads too and are counted, as plaintext. A
 * generic walk like the history scan's, so fields added to the action later are covered.
 */
export function forEachSchedulePayload(described: DescribedSchedule, visit: (payload: Payload, path: string) => void): void {
  forEachPayload(described.schedule, (p, path) => visit(p, `schedule.${path}`));
  forEachPayload(described.memo, (p, path) => visit(p, `memo.${path}`));
  forEachPayload(described.searchAttributes, (p, path) => visit(p, `searchAttributes.${path}`));
}
