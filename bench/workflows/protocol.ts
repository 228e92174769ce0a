/**
 * What the orchestrator (bench/workflows.bench.ts) and its worker and client processes say to each
 * other over node's IPC channel. Each process reports cumulative figures; the orchestrator takes
 * differences around each batch.
 */
import type { KeyCalls, Role, SharedResources } from './variants.js';

/** Handed to each process as JSON in BENCH_WF_CONFIG. */
export interface ProcessConfig {
  role: Role;
  variant: string;
  address: string;
  namespace: string;
  taskQueue: string;
  shared: SharedResources;
  /** Worker: the workflow bundle for this variant (with or without our failure converter). */
  bundlePath?: string;
  /** Client: a workflow not done after this long counts as an error. */
  workflowTimeoutMs?: number;
}

/** Client: run `count` workflows, `concurrency` at a time, their ids starting with `prefix`. */
export interface Batch {
  prefix: string;
  count: number;
  concurrency: number;
}

export interface Snapshot {
  calls: KeyCalls;
  /** process.cpuUsage(), user + system, ms. */
  cpuMs: number;
  /** Worker: SDK log entries at WARN or above (a failed workflow or activity task logs one). */
  warnings: number;
}

export interface ClientRun {
  completed: number;
  errors: number;
  /** The first few error messages (ours carry no payload plaintext or key bytes). */
  errorSamples: string[];
  wallMs: number;
  /** Per workflow: the client's start() call, and start() to result() resolved. */
  startMs: number[];
  totalMs: number[];
}

export type ToParent = { type: 'ready' } | { type: 'snapshot'; snapshot: Snapshot } | { type: 'done'; snapshot: Snapshot; run: ClientRun };

export type ToChild = { type: 'snapshot' } | ({ type: 'batch' } & Batch) | { type: 'stop' };

export function readConfig(): ProcessConfig {
  const raw = process.env.BENCH_WF_CONFIG;
  if (!raw) throw new Error('BENCH_WF_CONFIG is not set: this file is started by bench/workflows.bench.ts');
  return JSON.parse(raw) as ProcessConfig;
}

export function send(message: ToParent): void {
  if (!process.send) throw new Error('no IPC channel: this file is started by bench/workflows.bench.ts');
  process.send(message);
}

export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
