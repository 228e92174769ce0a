/**
 * Workflow throughput as users feel it: a real Temporal dev server and, for every data converter in
 * bench/workflows/variants.ts (no codec, a static-key codec, ours on the local keyring, ours on AWS
 * KMS — moto on loopback behind a proxy adding 10 ms per request), a worker process and a client
 * process of its own. Workflows each have an input, two activities and a signal. The variants run
 * in short batches, interleaved round by round, and every figure is reported as a ratio to the
 * no-codec batch of the same round (medians over rounds), because the machine is shared and noisy.
 *
 *   npm run bench:workflows                       # 8 rounds × 100 workflows per variant, 20 at a time (~5 min)
 *   npm run bench:workflows -- --quick            # 1 round × 10 workflows per variant: npm test's smoke run
 *   npm run bench:workflows -- --workflows 200 --concurrency 40 --rounds 5 --variants none,local
 *   npm run bench:workflows -- --cpu-prof DIR     # worker and client processes write V8 CPU profiles to DIR
 *   npm run bench:workflows -- --kms-delay-ms 0   # every KMS variant without the proxy's delay (diagnostic)
 *
 * KMS calls are counted twice: on the wire at the proxy (one listener per process) and by the codec's
 * own observer hooks in each process; both per workflow of each batch, and over the whole run.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { startMoto, type Moto } from '../test/cli-support/moto.js';
import { REPO_ROOT, runCli } from '../test/cli-support/run-cli.js';
import { startDevServer, TEMPORAL_BIN, type DevServer } from '../test/cli-support/temporal-dev.js';
import { KmsDelayProxy, type KmsOpCounts } from './lib/kms-delay-proxy.js';
import { fmt, median, percentile, table } from './lib/stats.js';
import { ratioChart } from './lib/svg.js';
import type { ProcessConfig, Snapshot, ToChild, ToParent } from './workflows/protocol.js';
import { FAILURE_CONVERTER_PATH, ROLES, VARIANTS, type KeyCalls, type Role, type SharedResources, type Variant } from './workflows/variants.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const outDir = argValue('--out') ?? path.join(here, 'results');
const cpuProfDir = argValue('--cpu-prof');
/** Per variant and round. */
const WORKFLOWS = Number(argValue('--workflows') ?? (quick ? 10 : 100));
const CONCURRENCY = Number(argValue('--concurrency') ?? (quick ? 5 : 20));
const ROUNDS = Number(argValue('--rounds') ?? (quick ? 1 : 8));
const WARMUP = Number(argValue('--warmup') ?? (quick ? 2 : 40));
const SELECTED = argValue('--variants')?.split(',');
/** Replaces every KMS variant's delay: a diagnostic (how much of the cost is the delay, how much moto). */
const KMS_DELAY_OVERRIDE = argValue('--kms-delay-ms');
const NAMESPACE = 'default';
const History = proto.temporal.api.history.v1.History;
/** Completed workflows per variant whose histories are read for their shape (size, workflow tasks). */
const HISTORY_SAMPLE = quick ? 3 : 20;
const REGION = 'us-east-1';
const BASELINE = 'none';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// ---- CPU time of the other processes (dev server, moto) and of the whole machine, from /proc.

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // utime + stime
}

function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - cpu[3]! - cpu[4]!, total }; // minus idle and iowait
}

interface Probe {
  server: number;
  moto: number;
  proxy: number;
  machine: { busy: number; total: number };
  kms: Record<string, KmsOpCounts>;
}

// ---- Child processes: a worker and a client per run, talking over IPC (bench/workflows/protocol.ts).

interface Proc {
  child: ChildProcess;
  inbox: ToParent[];
  exited: Promise<number | null>;
}

/** Every worker and client still running, so an interrupted run can stop them. */
const live = new Set<ChildProcess>();

function startProc(file: string, config: ProcessConfig, profileName: string): Proc {
  const nodeArgs = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(cpuProfDir), '--cpu-prof-name', `${profileName}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(here, 'workflows', file)], {
    cwd: REPO_ROOT,
    env: { ...process.env, BENCH_WF_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(child);
  const proc: Proc = { child, inbox: [], exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.once('exit', () => live.delete(child));
  child.on('message', (m: ToParent) => proc.inbox.push(m));
  return proc;
}

async function receive<T extends ToParent['type']>(p: Proc, type: T, timeoutMs: number): Promise<Extract<ToParent, { type: T }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const i = p.inbox.findIndex((m) => m.type === type);
    if (i >= 0) return p.inbox.splice(i, 1)[0] as Extract<ToParent, { type: T }>;
    if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`${path.basename(String(p.child.spawnargs.at(-1)))} exited (${p.child.exitCode ?? p.child.signalCode}) before sending "${type}"`);
    if (Date.now() > deadline) throw new Error(`no "${type}" from ${path.basename(String(p.child.spawnargs.at(-1)))} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function tell(p: Proc, message: ToChild): void {
  // With a callback, a process that is already going (EPIPE) is not an 'error' event that kills the run.
  if (p.child.connected) p.child.send(message, () => {});
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 30_000);
  await p.exited;
  clearTimeout(timer);
}

// ---- Per variant, a worker process and a client process for the whole run; batches interleaved.

interface RunResult {
  round: number;
  variant: string;
  /** Workflow ids of the batch are `${prefix}-0` … */
  prefix: string;
  workflows: number;
  completed: number;
  errors: number;
  warnings: number;
  errorSamples: string[];
  wallMs: number;
  wfPerSec: number;
  totalP50: number;
  totalP99: number;
  startP50: number;
  startP99: number;
  /** Per workflow of the batch. */
  kmsWire: Record<Role, KmsOpCounts>;
  keyCalls: Record<Role, KeyCalls>;
  cpuMsPerWf: { worker: number; client: number; server: number; moto: number; proxy: number };
  machineBusy: number;
}

interface Env {
  dev: DevServer;
  moto: Moto;
  proxy: KmsDelayProxy;
  shared: SharedResources;
  bundles: { plain: string; withFailureConverter: string };
}

interface VariantProcs {
  variant: Variant;
  worker: Proc;
  client: Proc;
  batches: number;
}

const caller = (v: Variant, role: Role) => `${v.id}/${role}`;
const kmsDelayOf = (v: Variant) => (v.kmsDelayMs === undefined ? 0 : Number(KMS_DELAY_OVERRIDE ?? v.kmsDelayMs));

function probe(env: Env, v: Variant): Probe {
  const own = process.cpuUsage(); // the orchestrator does little else than run the proxy
  const kms = env.proxy.snapshot();
  return {
    server: procCpuMs(env.dev.pid),
    moto: procCpuMs(env.moto.pid),
    proxy: (own.user + own.system) / 1000,
    machine: machineTicks(),
    kms: { client: kms[caller(v, 'client')]!, worker: kms[caller(v, 'worker')]! },
  };
}

const perWf = (n: number, wf: number) => (wf > 0 ? n / wf : NaN);

function callsDelta(a: KeyCalls, b: KeyCalls, wf: number): KeyCalls {
  return { generate: perWf(b.generate - a.generate, wf), decrypt: perWf(b.decrypt - a.decrypt, wf), errors: b.errors - a.errors, seconds: perWf(b.seconds - a.seconds, wf) };
}

function opsDelta(a: KmsOpCounts = {}, b: KmsOpCounts = {}, wf: number): KmsOpCounts {
  return Object.fromEntries(Object.keys(b).map((op) => [op, perWf((b[op] ?? 0) - (a[op] ?? 0), wf)]));
}

async function ask(p: Proc): Promise<Snapshot> {
  tell(p, { type: 'snapshot' });
  return (await receive(p, 'snapshot', 30_000)).snapshot;
}

/** Start a variant's worker, then its client, each in a fresh process, both talking to their own proxy listener. */
async function startVariant(env: Env, variant: Variant): Promise<VariantProcs> {
  const tag = `${variant.id}-${randomBytes(3).toString('hex')}`;
  const shared: SharedResources = { ...env.shared, kms: { ...env.shared.kms, endpoints: { client: env.proxy.endpoints[caller(variant, 'client')]!, worker: env.proxy.endpoints[caller(variant, 'worker')]! } } };
  const base = { variant: variant.id, workflowTimeoutMs: quick ? 60_000 : 120_000, address: env.dev.address, namespace: NAMESPACE, taskQueue: `wfbench-${tag}`, shared };
  const worker = startProc('worker-process.ts', { ...base, role: 'worker', bundlePath: variant.codec === 'envelope' ? env.bundles.withFailureConverter : env.bundles.plain }, `worker-${tag}`);
  await receive(worker, 'ready', 120_000);
  const client = startProc('client-process.ts', { ...base, role: 'client' }, `client-${tag}`);
  await receive(client, 'ready', 120_000);
  return { variant, worker, client, batches: 0 };
}

/** One batch of one variant, with every counter read just before and just after it. */
async function runBatch(env: Env, vp: VariantProcs, round: number, count: number): Promise<RunResult> {
  const w0 = await ask(vp.worker);
  const c0 = await ask(vp.client);
  const p0 = probe(env, vp.variant);
  const prefix = `wf-${vp.variant.id}-${round}-${vp.batches++}`;
  tell(vp.client, { type: 'batch', prefix, count, concurrency: CONCURRENCY });
  const done = await receive(vp.client, 'done', 900_000);
  const p1 = probe(env, vp.variant);
  const w1 = await ask(vp.worker);
  const { run } = done;
  const n = run.completed;
  return {
    round,
    variant: vp.variant.id,
    prefix,
    workflows: count,
    completed: n,
    errors: run.errors,
    warnings: w1.warnings - w0.warnings,
    errorSamples: run.errorSamples,
    wallMs: run.wallMs,
    wfPerSec: (n / run.wallMs) * 1000,
    totalP50: percentile(run.totalMs, 50),
    totalP99: percentile(run.totalMs, 99),
    startP50: percentile(run.startMs, 50),
    startP99: percentile(run.startMs, 99),
    kmsWire: { client: opsDelta(p0.kms.client, p1.kms.client, n), worker: opsDelta(p0.kms.worker, p1.kms.worker, n) },
    keyCalls: { client: callsDelta(c0.calls, done.snapshot.calls, n), worker: callsDelta(w0.calls, w1.calls, n) },
    cpuMsPerWf: {
      worker: perWf(w1.cpuMs - w0.cpuMs, n),
      client: perWf(done.snapshot.cpuMs - c0.cpuMs, n),
      server: perWf(p1.server - p0.server, n),
      moto: perWf(p1.moto - p0.moto, n),
      proxy: perWf(p1.proxy - p0.proxy, n),
    },
    machineBusy: (p1.machine.busy - p0.machine.busy) / (p1.machine.total - p0.machine.total),
  };
}

interface HistoryShape {
  workflows: number;
  bytes: number;
  events: number;
  workflowTasks: number;
}

/**
 * What the server stores per workflow, averaged over a sample of completed workflows: history bytes
 * (as protobuf), events, and workflow tasks (more of them when a task waits on KMS and events pile up).
 */
async function historyShape(env: Env, workflowIds: readonly string[]): Promise<HistoryShape> {
  const connection = await Connection.connect({ address: env.dev.address });
  try {
    let bytes = 0;
    let events = 0;
    let workflowTasks = 0;
    for (const workflowId of workflowIds) {
      let nextPageToken: Uint8Array | undefined;
      do {
        const res = await connection.workflowService.getWorkflowExecutionHistory({ namespace: NAMESPACE, execution: { workflowId }, nextPageToken });
        bytes += History.encode(res.history ?? {}).finish().length;
        events += res.history?.events?.length ?? 0;
        workflowTasks += res.history?.events?.filter((e) => e.workflowTaskCompletedEventAttributes).length ?? 0;
        nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
      } while (nextPageToken);
    }
    const n = workflowIds.length;
    return { workflows: n, bytes: bytes / n, events: events / n, workflowTasks: workflowTasks / n };
  } finally {
    await connection.close();
  }
}

/** Stop a variant's processes; their last counters are the run's totals, warm-up included. */
async function stopVariant(vp: VariantProcs): Promise<{ client: Snapshot; worker: Snapshot }> {
  const client = await ask(vp.client);
  tell(vp.client, { type: 'stop' });
  tell(vp.worker, { type: 'stop' });
  const worker = (await receive(vp.worker, 'snapshot', 60_000)).snapshot; // its last word, after shutdown
  await Promise.all([stopProc(vp.worker), stopProc(vp.client)]);
  return { client, worker };
}

// ---- Set-up once: dev server, moto and a KMS key, the proxy, a local keyring, the workflow bundles.

/** What set-up started, stopped in reverse order at the end or on an interrupt. */
const started: (() => Promise<void> | void)[] = [];

async function stopAll(): Promise<void> {
  for (const c of live) c.kill('SIGKILL');
  while (started.length > 0) await started.pop()!();
}

async function setUp(dir: string): Promise<Env> {
  const keyringPath = path.join(dir, 'keyring.json');
  const devStarting = startDevServer().then((d) => (started.push(() => d.stop()), d));
  const motoStarting = startMoto().then((m) => (started.push(() => m.stop()), m));
  const [dev, moto, init] = await Promise.all([devStarting, motoStarting, runCli(['keys', 'init', '--keyring', keyringPath, '--json'])]);
  if (init.code !== 0) throw new Error(`keys init failed: ${init.stderr}`);
  const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }; // moto accepts any; placeholders
  const admin = new KMSClient({ region: REGION, endpoint: moto.endpoint, credentials });
  const keyArn = (await admin.send(new CreateKeyCommand({ Description: 'temporal-envelope workflow bench' }))).KeyMetadata!.Arn!;
  admin.destroy();
  const variants = selectedVariants();
  const proxy = await KmsDelayProxy.start(moto.endpoint, Object.fromEntries(variants.flatMap((v) => ROLES.map((role) => [caller(v, role), kmsDelayOf(v)]))));
  started.push(() => proxy.stop());
  const bundle = async (failureConverterPath: string | undefined, file: string) => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.join(here, 'workflows', 'workflows.ts'),
      ...(failureConverterPath ? { failureConverterPath } : {}),
      logger: new DefaultLogger('WARN'),
    });
    writeFileSync(path.join(dir, file), code);
    return path.join(dir, file);
  };
  const bundles = { plain: await bundle(undefined, 'bundle-plain.js'), withFailureConverter: await bundle(FAILURE_CONVERTER_PATH, 'bundle-failure-converter.js') };
  return {
    dev,
    moto,
    proxy,
    bundles,
    // Each variant's processes get their own proxy listeners (startVariant).
    shared: { keyringPath, staticKeyHex: randomBytes(32).toString('hex'), kms: { region: REGION, keyArn, endpoints: { client: '', worker: '' } } },
  };
}

// ---- Medians over rounds, ratios to the same round's baseline.

interface Summary {
  variant: string;
  label: string;
  target?: number;
  kmsDelayMs?: number;
  wfPerSec: number;
  ratio: number;
  totalP50: number;
  totalP99: number;
  totalP50Ratio: number;
  startP50: number;
  startP99: number;
  startP50AddedMs: number;
  completed: number;
  errors: number;
  warnings: number;
  kmsWire: Record<Role, KmsOpCounts>;
  keyCalls: Record<Role, KeyCalls>;
  warmupErrors: number;
  history: HistoryShape;
  /** The whole run, warm-up included (a per-namespace key hierarchy makes its KMS calls there). */
  kmsWireTotal: Record<Role, KmsOpCounts>;
  keyCallsTotal: Record<Role, KeyCalls>;
  cpuMsPerWf: RunResult['cpuMsPerWf'];
  /**
   * The baseline's CPU per workflow over this variant's, summed over the processes: the throughput
   * ratio to expect where CPU is the limit. `withoutStandIns` leaves out moto and the proxy, which
   * stand in for AWS KMS and would not run on the user's machines.
   */
  cpuRatio: { all: number; withoutStandIns: number };
  machineBusy: number;
}

const cpuAll = (c: RunResult['cpuMsPerWf']) => c.worker + c.client + c.server + c.moto + c.proxy;
const cpuWithoutStandIns = (c: RunResult['cpuMsPerWf']) => c.worker + c.client + c.server;

interface Totals {
  history: HistoryShape;
  warmupErrors: number;
  kmsWire: Record<Role, KmsOpCounts>;
  last: { client: Snapshot; worker: Snapshot };
}

function summarize(variants: readonly Variant[], runs: readonly RunResult[], totals: ReadonlyMap<string, Totals>): Summary[] {
  const baseOf = (r: RunResult) => runs.find((b) => b.round === r.round && b.variant === BASELINE)!;
  return variants.map((v) => {
    const rs = runs.filter((r) => r.variant === v.id);
    const t = totals.get(v.id)!;
    const med = (f: (r: RunResult) => number) => median(rs.map(f));
    const ops = (role: Role) => {
      const names = [...new Set(rs.flatMap((r) => Object.keys(r.kmsWire[role])))];
      return Object.fromEntries(names.map((op) => [op, med((r) => r.kmsWire[role][op] ?? 0)]));
    };
    const calls = (role: Role): KeyCalls => ({
      generate: med((r) => r.keyCalls[role].generate),
      decrypt: med((r) => r.keyCalls[role].decrypt),
      errors: rs.reduce((a, r) => a + r.keyCalls[role].errors, 0),
      seconds: med((r) => r.keyCalls[role].seconds),
    });
    return {
      variant: v.id,
      label: v.label,
      ...(v.target !== undefined ? { target: v.target } : {}),
      ...(v.kmsDelayMs !== undefined ? { kmsDelayMs: Number(KMS_DELAY_OVERRIDE ?? v.kmsDelayMs) } : {}),
      wfPerSec: med((r) => r.wfPerSec),
      ratio: med((r) => r.wfPerSec / baseOf(r).wfPerSec),
      totalP50: med((r) => r.totalP50),
      totalP99: med((r) => r.totalP99),
      totalP50Ratio: med((r) => r.totalP50 / baseOf(r).totalP50),
      startP50: med((r) => r.startP50),
      startP99: med((r) => r.startP99),
      startP50AddedMs: med((r) => r.startP50 - baseOf(r).startP50),
      completed: rs.reduce((a, r) => a + r.completed, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      warnings: t.last.worker.warnings,
      warmupErrors: t.warmupErrors,
      history: t.history,
      kmsWire: { client: ops('client'), worker: ops('worker') },
      keyCalls: { client: calls('client'), worker: calls('worker') },
      kmsWireTotal: t.kmsWire,
      keyCallsTotal: { client: t.last.client.calls, worker: t.last.worker.calls },
      cpuMsPerWf: {
        worker: med((r) => r.cpuMsPerWf.worker),
        client: med((r) => r.cpuMsPerWf.client),
        server: med((r) => r.cpuMsPerWf.server),
        moto: med((r) => r.cpuMsPerWf.moto),
        proxy: med((r) => r.cpuMsPerWf.proxy),
      },
      cpuRatio: { all: med((r) => cpuAll(baseOf(r).cpuMsPerWf) / cpuAll(r.cpuMsPerWf)), withoutStandIns: med((r) => cpuWithoutStandIns(baseOf(r).cpuMsPerWf) / cpuWithoutStandIns(r.cpuMsPerWf)) },
      machineBusy: med((r) => r.machineBusy),
    };
  });
}

/** Client errors (warm-up included), worker warnings (failed tasks) and failed key-provider calls: a clean run has none. */
const failures = (s: Summary) => s.errors + s.warmupErrors + s.warnings + s.keyCallsTotal.client.errors + s.keyCallsTotal.worker.errors;
const gd = (o: KmsOpCounts) => `${fmt(o.GenerateDataKey ?? 0)} / ${fmt(o.Decrypt ?? 0)}`;
const gdCalls = (c: KeyCalls) => `${fmt(c.generate)} / ${fmt(c.decrypt)}`;

function temporalVersion(): string {
  try {
    return execFileSync(TEMPORAL_BIN, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function selectedVariants(): Variant[] {
  for (const id of SELECTED ?? []) if (!VARIANTS.some((v) => v.id === id)) throw new Error(`unknown variant ${JSON.stringify(id)}; known: ${VARIANTS.map((v) => v.id).join(', ')}`);
  return VARIANTS.filter((v) => !SELECTED || SELECTED.includes(v.id) || v.id === BASELINE);
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'; // moto's admin client here; the children get it too
  const variants = selectedVariants();
  const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', memGb: Math.round(os.totalmem() / 2 ** 30), loadBefore: os.loadavg(), node: process.version, temporal: temporalVersion() };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'te-wfbench-'));
  started.push(() => rmSync(dir, { recursive: true, force: true }));
  // Interrupted (Ctrl-C, a test's timeout) or crashed: stop what this run started, then go.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stopAll().finally(() => process.exit(130)));
  process.once('uncaughtException', (err) => {
    console.error(err);
    void stopAll().finally(() => process.exit(1));
  });
  const runs: RunResult[] = [];
  const totals = new Map<string, Totals>();
  const report = (r: RunResult, what: string) => {
    console.log(
      `${what} ${r.variant.padEnd(10)} ${fmt(r.wfPerSec, 1)} wf/s, start→complete p50 ${fmt(r.totalP50, 0)} ms p99 ${fmt(r.totalP99, 0)} ms, start() p50 ${fmt(r.startP50, 1)} ms, ${r.completed}/${r.workflows} completed, ${r.errors} errors, ${r.warnings} worker warnings, machine ${fmt(r.machineBusy * 100, 0)}% busy`,
    );
    for (const e of r.errorSamples) console.log(`  error: ${e}`);
  };
  try {
    const env = await setUp(dir);
    // Every variant's worker and client up and warm before anything is timed; idle, they only long-poll.
    const procs: VariantProcs[] = [];
    for (const v of variants) procs.push(await startVariant(env, v));
    const warmupErrors = new Map<string, number>();
    for (const vp of procs) {
      const r = await runBatch(env, vp, 0, WARMUP);
      report(r, 'warm-up');
      warmupErrors.set(vp.variant.id, r.errors + (r.workflows - r.completed));
    }
    // Short batches, variants interleaved and their order rotated each round: a burst of load from
    // the machine's other tenants lands on every variant alike, and each ratio compares batches
    // run within seconds of each other.
    for (let round = 1; round <= ROUNDS; round++) {
      for (let i = 0; i < procs.length; i++) {
        const r = await runBatch(env, procs[(i + round - 1) % procs.length]!, round, WORKFLOWS);
        runs.push(r);
        report(r, `round ${round}`);
      }
    }
    for (const vp of procs) {
      const kms = env.proxy.snapshot();
      const last = runs.filter((r) => r.variant === vp.variant.id).at(-1)!;
      totals.set(vp.variant.id, {
        history: await historyShape(env, Array.from({ length: Math.min(HISTORY_SAMPLE, last.workflows) }, (_, i) => `${last.prefix}-${i}`)),
        warmupErrors: warmupErrors.get(vp.variant.id)!,
        kmsWire: { client: kms[caller(vp.variant, 'client')]!, worker: kms[caller(vp.variant, 'worker')]! },
        last: await stopVariant(vp),
      });
    }
  } finally {
    await stopAll();
  }
  const summary = summarize(variants, runs, totals);
  const loadAfter = os.loadavg();

  console.log(
    `\nworkflows: ${ROUNDS} round(s) of ${WORKFLOWS} per variant, variants interleaved (after ${WARMUP} each to warm up), ${CONCURRENCY} at a time; one worker and one client process per variant; medians over rounds, ratios to the no-codec batch of the same round`,
  );
  if (KMS_DELAY_OVERRIDE !== undefined) console.log(`KMS delay overridden: ${KMS_DELAY_OVERRIDE} ms per request for every KMS variant, whatever its label says`);
  console.log(`machine: ${machine.cpus} × ${machine.model}, ${machine.memGb} GB, load average ${machine.loadBefore.map((l) => fmt(l, 1)).join(' ')} before, ${loadAfter.map((l) => fmt(l, 1)).join(' ')} after; node ${machine.node}; ${machine.temporal}`);
  console.log(
    table(
      ['variant', 'wf/s', 'ratio', 'start→complete p50 ms', 'p99 ms', 'p50 ratio', 'start() p50 ms', 'p99 ms', 'start() p50 added ms', 'completed', 'errors'],
      summary.map((s) => [s.label, fmt(s.wfPerSec, 1), fmt(s.ratio), fmt(s.totalP50, 0), fmt(s.totalP99, 0), fmt(s.totalP50Ratio), fmt(s.startP50, 1), fmt(s.startP99, 1), fmt(s.startP50AddedMs, 1), `${s.completed}/${WORKFLOWS * ROUNDS}`, failures(s)]),
    ),
  );
  console.log('\nkey-provider calls per workflow, GenerateDataKey / Decrypt: on the wire at the KMS proxy, and as each process\'s codec observer hooks counted them (local keyring: no wire)');
  console.log(
    table(
      ['variant', 'client (wire)', 'worker (wire)', 'client (hooks)', 'worker (hooks)', 'key wait ms/wf client', 'worker'],
      summary.map((s) => [s.label, gd(s.kmsWire.client), gd(s.kmsWire.worker), gdCalls(s.keyCalls.client), gdCalls(s.keyCalls.worker), fmt(s.keyCalls.client.seconds * 1000, 1), fmt(s.keyCalls.worker.seconds * 1000, 1)]),
    ),
  );
  console.log(`\nwhat the server stores per workflow (mean of ${HISTORY_SAMPLE} from each variant's last batch), as a ratio to no codec`);
  const baseHistory = summary.find((s) => s.variant === BASELINE)!.history;
  console.log(
    table(
      ['variant', 'history bytes', 'ratio', 'events', 'workflow tasks'],
      summary.map((s) => [s.label, fmt(s.history.bytes, 0), fmt(s.history.bytes / baseHistory.bytes), fmt(s.history.events, 1), fmt(s.history.workflowTasks, 2)]),
    ),
  );
  console.log('\nCPU ms per workflow, by process (where the time goes); CPU ratio = the baseline\'s total over this one\'s (the wf/s ratio where CPU is the limit), without moto and the proxy (stand-ins for AWS KMS); how busy the machine was');
  console.log(
    table(
      ['variant', 'worker', 'client', 'temporal server', 'moto', 'orchestrator (proxy)', 'CPU ratio', 'without stand-ins', 'machine busy (all processes)'],
      summary.map((s) => [
        s.label,
        fmt(s.cpuMsPerWf.worker, 1),
        fmt(s.cpuMsPerWf.client, 1),
        fmt(s.cpuMsPerWf.server, 1),
        fmt(s.cpuMsPerWf.moto, 1),
        fmt(s.cpuMsPerWf.proxy, 1),
        fmt(s.cpuRatio.all),
        fmt(s.cpuRatio.withoutStandIns),
        `${fmt(s.machineBusy * 100, 0)}%`,
      ]),
    ),
  );

  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    path.join(outDir, 'workflows.json'),
    `${JSON.stringify({ when: new Date().toISOString(), quick, machine: { ...machine, loadAfter }, workflows: WORKFLOWS, warmup: WARMUP, concurrency: CONCURRENCY, rounds: ROUNDS, summary, runs }, null, 2)}\n`,
  );
  const others = summary.filter((s) => s.variant !== BASELINE);
  writeFileSync(
    path.join(outDir, 'workflows.svg'),
    ratioChart(`vs no codec in the same round: wf/s (red: goal), p50 latency (lower is better)`, [
      ...others.map((s) => ({ label: `wf/s: ${s.label}`, ratio: s.ratio, ...(s.target !== undefined ? { target: s.target } : {}) })),
      ...others.map((s) => ({ label: `p50 latency: ${s.label}`, ratio: s.totalP50Ratio })),
    ]),
  );
  console.log(`\nwrote ${path.join(outDir, 'workflows.json')} and workflows.svg`);
  const failed = summary.reduce((a, s) => a + failures(s) + (WORKFLOWS * ROUNDS - s.completed), 0);
  if (failed > 0) {
    console.error(`${failed} failure(s): workflows failed or timed out, worker warnings, or failed key-provider calls`);
    process.exitCode = 1;
  }
}

// Whatever goes wrong, the servers this run started are stopped before it exits.
try {
  await main();
} catch (err) {
  await stopAll();
  throw err;
}
