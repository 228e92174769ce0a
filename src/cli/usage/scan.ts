import { readFile } from 'node:fs/promises';
import { Connection, type TLSConfig } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { peekSealed } from '../../../primitives/format-versions.js';
import { samplesKeyIdOf } from '../../../primitives/samples-format.js';
import { UsageTally, type SchedulePayloads, type ScopeUsage, type UsageScan } from '../../../keys/admin/usage-report.js';
import { OperationError, UsageError } from '../errors.js';
import type { TemporalConnectionOptions } from '../options.js';
import { forEachPayload } from './history-payloads.js';
import { describeSchedule, forEachSchedulePayload, listScheduleIds } from './schedules.js';

/**
 * Walk the histories of a namespace's workflow executions, and its schedules, and count payloads
 * per KEK (and, for format version 2, per branch key), scope and schedule.
 * Uses the raw WorkflowService calls: the high-level client would run memo and search attributes
 * through a data converter, and an encrypted memo has no converter here.
 */
export interface ScanOptions {
  readonly connection: TemporalConnectionOptions;
  readonly since?: Date | undefined;
  readonly until?: Date | undefined;
  readonly query?: string | undefined;
  readonly concurrency: number;
  readonly onTotal?: (total: number) => void;
  readonly onProgress?: (done: number) => void;
  readonly onExecutionError?: (workflowId: string, runId: string, error: Error) => void;
  readonly onScheduleError?: (scheduleId: string, error: Error) => void;
}

export interface ScanResult {
  readonly scan: UsageScan;
  readonly byScope: ScopeUsage[];
  readonly bySchedule: SchedulePayloads[];
}

export function buildQuery(options: Pick<ScanOptions, 'since' | 'until' | 'query'>): string {
  const parts: string[] = [];
  // "Open at some time since T": still running, or closed at/after T (which includes every
  // workflow started after T). A StartTime filter alone would miss long-running workflows that
  // started earlier and kept adding payloads.
  if (options.since !== undefined) parts.push(`(ExecutionStatus = 'Running' OR CloseTime >= '${options.since.toISOString()}')`);
  if (options.until !== undefined) parts.push(`StartTime <= '${options.until.toISOString()}'`);
  if (options.query !== undefined && options.query.trim() !== '') parts.push(`(${options.query})`);
  return parts.join(' AND ');
}

export async function connectTemporal(options: TemporalConnectionOptions): Promise<Connection> {
  const useTls = options.tls ?? (options.apiKey !== undefined || options.tlsCertPath !== undefined || options.tlsCaPath !== undefined);
  let tls: TLSConfig | boolean = false;
  if (useTls) {
    const read = async (file: string, flag: string) => {
      try {
        return await readFile(file);
      } catch (err) {
        throw new UsageError(`${flag} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    };
    tls = {
      ...(options.tlsServerName === undefined ? {} : { serverNameOverride: options.tlsServerName }),
      ...(options.tlsCaPath === undefined ? {} : { serverRootCACertificate: await read(options.tlsCaPath, '--tls-ca-path') }),
      ...(options.tlsCertPath !== undefined && options.tlsKeyPath !== undefined
        ? { clientCertPair: { crt: await read(options.tlsCertPath, '--tls-cert-path'), key: await read(options.tlsKeyPath, '--tls-key-path') } }
        : {}),
    };
  }
  try {
    return await Connection.connect({
      address: options.address,
      tls,
      ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
      connectTimeout: options.connectTimeoutMs,
    });
  } catch (err) {
    throw new OperationError('TEMPORAL_UNAVAILABLE', `cannot connect to Temporal at ${options.address}: ${(err as Error).message}`, { cause: err });
  }
}

export async function scanUsage(options: ScanOptions): Promise<ScanResult> {
  const { namespace, address } = options.connection;
  const query = buildQuery(options);
  const startedAt = new Date();
  const connection = await connectTemporal(options.connection);
  try {
    const service = connection.workflowService;
    const tally = new UsageTally();
    let executions = 0;
    let failed = 0;
    try {
      const counted = await service.countWorkflowExecutions({ namespace, query });
      options.onTotal?.(toNumber(counted.count));
    } catch (err) {
      throw temporalError(err, options.connection, query);
    }

    const fetchOne = async (workflowId: string, runId: string) => {
      // Tally into a local copy first: a history that fails half-way must not be half counted.
      const found: Found[] = [];
      let nextPageToken: Uint8Array | undefined;
      do {
        const page = await service.getWorkflowExecutionHistory({
          namespace,
          execution: { workflowId, runId },
          maximumPageSize: 1000,
          ...(nextPageToken === undefined ? {} : { nextPageToken }),
        });
        for (const event of page.history?.events ?? []) forEachPayload(event, (p) => found.push(classify(p)));
        nextPageToken = page.nextPageToken != null && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
      } while (nextPageToken !== undefined);
      for (const f of found) {
        if (f !== undefined && 'legacyKeyId' in f) tally.addLegacy(f.legacyKeyId);
        else tally.add(f);
      }
    };

    // A small pool: histories are fetched `concurrency` at a time while listing continues.
    const inflight = new Set<Promise<void>>();
    let listToken: Uint8Array | undefined;
    do {
      let page;
      try {
        page = await service.listWorkflowExecutions({ namespace, query, pageSize: 500, ...(listToken === undefined ? {} : { nextPageToken: listToken }) });
      } catch (err) {
        throw temporalError(err, options.connection, query);
      }
      for (const info of page.executions ?? []) {
        const workflowId = info.execution?.workflowId ?? '';
        const runId = info.execution?.runId ?? '';
        while (inflight.size >= options.concurrency) await Promise.race(inflight);
        const p: Promise<void> = fetchOne(workflowId, runId)
          .catch((err: unknown) => {
            failed += 1;
            options.onExecutionError?.(workflowId, runId, err as Error);
          })
          .finally(() => {
            executions += 1;
            inflight.delete(p);
            options.onProgress?.(executions);
          });
        inflight.add(p);
      }
      listToken = page.nextPageToken != null && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
    } while (listToken !== undefined);
    await Promise.all(inflight);

    // Schedules: each keeps its action's input, memo and summary sealed for every future run, and
    // `keys retire` must not retire a key one of them still needs.
    const describing = new Set<Promise<void>>();
    try {
      for await (const scheduleId of listScheduleIds(service, namespace)) {
        while (describing.size >= options.concurrency) await Promise.race(describing);
        const p: Promise<void> = describeSchedule(service, namespace, scheduleId)
          .then((described) => {
            const found: Parameters<UsageTally['add']>[0][] = [];
            forEachSchedulePayload(described, (payload) => found.push(peekSealed(payload)));
            tally.addSchedule(scheduleId, found);
          })
          .catch((err: unknown) => {
            // Deleted between the listing and now: nothing of it is left to count.
            if ((err as { code?: unknown }).code === 5) return;
            tally.scheduleFailed();
            options.onScheduleError?.(scheduleId, err as Error);
          })
          .finally(() => describing.delete(p));
        describing.add(p);
      }
    } catch (err) {
      throw temporalError(err, options.connection, query);
    } finally {
      await Promise.all(describing);
    }

    return {
      scan: {
        address,
        namespace,
        query,
        since: options.since?.toISOString() ?? null,
        until: options.until?.toISOString() ?? null,
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        executions,
        failedExecutions: failed,
        payloads: tally.payloads,
        unencrypted: tally.unencrypted,
        byKey: tally.byKey(),
        schedules: tally.scheduleUsage(),
        legacy: tally.legacy(),
      },
      byScope: tally.byScope(),
      bySchedule: tally.bySchedule(),
    };
  } finally {
    await connection.close();
  }
}

type Found = ReturnType<typeof peekSealed> | { legacyKeyId: string };

/** Ours (key id and scope), the samples' codec format (its key id), or neither. */
function classify(p: Payload): Found {
  const ours = peekSealed(p);
  if (ours !== undefined) return ours;
  const legacyKeyId = samplesKeyIdOf(p);
  return legacyKeyId === undefined ? undefined : { legacyKeyId };
}

function toNumber(n: unknown): number {
  if (typeof n === 'number') return n;
  if (n !== null && typeof n === 'object' && typeof (n as { toNumber?: unknown }).toNumber === 'function') return (n as { toNumber(): number }).toNumber();
  return Number(n ?? 0);
}

function temporalError(err: unknown, conn: TemporalConnectionOptions, query: string): Error {
  const code = (err as { code?: unknown }).code;
  const message = (err as Error).message ?? String(err);
  // gRPC status codes: 3 INVALID_ARGUMENT, 5 NOT_FOUND, 7 PERMISSION_DENIED, 14 UNAVAILABLE, 16 UNAUTHENTICATED.
  if (code === 3) return new UsageError(`Temporal rejected the visibility query ${JSON.stringify(query)}: ${message}`);
  if (code === 5) return new OperationError('NAMESPACE_NOT_FOUND', `namespace ${JSON.stringify(conn.namespace)} not found at ${conn.address}: ${message}`);
  if (code === 7 || code === 16) return new OperationError('TEMPORAL_ACCESS_DENIED', `Temporal at ${conn.address} refused access: ${message}`);
  return new OperationError('TEMPORAL_UNAVAILABLE', `Temporal at ${conn.address} failed: ${message}`, { cause: err });
}
