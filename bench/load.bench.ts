/**
 * Load test of the codec server's /decode on loopback with autocannon, against two baselines
 * measured in the same run: a fastify echo server (the framework floor) and a static-key server
 * shaped like Temporal's samples (no auth, audit or metrics; one AES-GCM key). Each runs in its own
 * process; rounds alternate echo / static / ours; medians of the rounds are reported. Then serial
 * latency: one caller, one 1 KB payload at a time (as the `temporal` CLI decodes). Bounded in time;
 * stops everything.
 *
 *   npm run bench:load                         # 3 rounds × 10 s per side and case
 *   npm run bench:load -- --quick              # a few seconds (CI smoke test, no timing assertions)
 *   npm run bench:load -- --soak-minutes 5     # plus a memory run: RSS of the server under load
 *   npm run bench:load -- --cpu-prof DIR       # the codec server writes a V8 CPU profile to DIR
 *   npm run bench:load -- --seconds S          # each load run S seconds instead of 10
 *   npm run bench:load -- --workers N          # every server with N node:cluster workers (serve --workers N)
 *   npm run bench:load -- --compare-tree DIR   # also DIR's bench/servers/codec-server.ts (another checkout), same rounds
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { EnvelopeCodec } from '../codecs/index.js';
import { payloadsFromJson, payloadsToJson } from '../codecs/payload-json.js';
import { LocalKeyring, createKeyring } from '../keys/index.js';
import { sha256Hex } from '../src/config/token-hash.js';
import { serialLatencies } from './lib/serial-client.js';
import { StaticKeyCodec } from './lib/static-key-codec.js';
import { fmt, median, percentile, table } from './lib/stats.js';
import { ratioChart } from './lib/svg.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const soakMinutes = Number(argValue('--soak-minutes') ?? 0);
const outDir = argValue('--out') ?? path.join(here, 'results');
const cpuProfDir = argValue('--cpu-prof');
const ROUNDS = quick ? 1 : 3;
const SECONDS = Number(argValue('--seconds') ?? (quick ? 2 : 10));
const CONNECTIONS = 50;
const SERIAL_REQUESTS = quick ? 200 : 3000;
// Every server (echo, static-key, ours) runs with this many node:cluster workers (serve --workers).
const WORKERS = Number(argValue('--workers') ?? 1);
// Before/after in one run: the codec server of another checkout (e.g. the commit before a change),
// same config and keyring, loaded in the same rounds as ours. Shares this tree's node_modules.
const compareTree = argValue('--compare-tree');

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function startServer(file: string, env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = [], tree = path.dirname(here)): Promise<Server> {
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', ...nodeArgs, '--import', 'tsx', path.join(tree, 'bench', 'servers', file)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n')[0];
      if (buf.includes('\n') && line) resolve(line.trim());
    });
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
    setTimeout(() => reject(new Error(`${file} did not start`)), 30_000).unref();
  });
  return {
    url,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Run {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
}

const headersFor = (token: string) => ({ 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${token}` });

async function load(url: string, body: string, token: string, seconds: number): Promise<Run> {
  const r = await autocannon({
    url: `${url}/decode`,
    method: 'POST',
    body,
    headers: headersFor(token),
    connections: CONNECTIONS,
    duration: seconds,
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, requests: r.requests.total };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'te-bench-'));
  const keyringPath = path.join(dir, 'keyring.json');
  await createKeyring(keyringPath);
  const token = `bench_${randomBytes(24).toString('base64url')}`;
  const loadBefore = os.loadavg();
  const staticKey = randomBytes(32);
  const env = { BENCH_WORKERS: String(WORKERS), BENCH_STATIC_KEY: staticKey.toString('hex'), BENCH_KEYRING: keyringPath, BENCH_TOKEN_SHA256: `sha256:${sha256Hex(token)}`, BENCH_LOG: path.join(dir, 'audit.log') };

  // Realistic batches: 10 × 1 KB from 10 workflows (a history page), and 1 × 100 KB.
  const keys = await LocalKeyring.open({ path: keyringPath, create: false, watchIntervalMs: 0 });
  const codec = new EnvelopeCodec({ keyProviders: keys });
  const json = (size: number) => ({ metadata: { encoding: new TextEncoder().encode('json/plain') }, data: Buffer.from(JSON.stringify({ secret: 'x'.repeat(size - 14) })) });
  const sealedBatch = async (count: number, size: number) => {
    const out = [];
    for (let i = 0; i < count; i++) out.push(...(await codec.encode([json(size)], { type: 'workflow', namespace: 'default', workflowId: `load-wf-${i}` })));
    return JSON.stringify(payloadsToJson(out));
  };
  const staticCodec = new StaticKeyCodec(staticKey);
  const staticBatch = async (count: number, size: number) => JSON.stringify(payloadsToJson(await staticCodec.encode(Array.from({ length: count }, () => json(size)))));
  const cases = {
    '10 × 1 KB': { body: await sealedBatch(10, 1024), staticBody: await staticBatch(10, 1024), payloads: 10 },
    '1 × 100 KB': { body: await sealedBatch(1, 100 * 1024), staticBody: await staticBatch(1, 100 * 1024), payloads: 1 },
  };
  const serialCase = { body: await sealedBatch(1, 1024), staticBody: await staticBatch(1, 1024) };
  keys.close();

  const echo = await startServer('echo-server.ts', env);
  const staticServer = await startServer('static-key-server.ts', env);
  const heapFile = path.join(dir, 'heap.log');
  // Heap sampling forces a full GC every 5 s: only for the soak. Left on in every run, it cost the
  // measured server about a third of its throughput next to the same code without it (the KMS
  // 20 ms server and --compare-tree ran faster than ours in every run of 2026-11-29).
  const server = await startServer('codec-server.ts', soakMinutes > 0 ? { ...env, BENCH_HEAP_FILE: heapFile } : env, cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(cpuProfDir)] : []);
  const slowKms = await startServer('codec-server.ts', { ...env, BENCH_KMS_DELAY_MS: '20' });
  const other = compareTree ? await startServer('codec-server.ts', env, [], path.resolve(compareTree)) : undefined;
  try {
    // Correctness before speed: the codec server opens every payload, the echo server returns the body.
    for (const [name, c] of Object.entries(cases)) {
      for (const s of [server, slowKms, ...(other ? [other] : [])]) {
        const res = await fetch(`${s.url}/decode`, { method: 'POST', body: c.body, headers: { 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${token}` } });
        const opened = payloadsFromJson(await res.json());
        if (res.status !== 200 || opened.length !== c.payloads || opened.some((p) => new TextDecoder().decode(p.metadata!.encoding!) !== 'json/plain')) throw new Error(`codec server did not decode ${name}`);
      }
      const e = await fetch(`${echo.url}/decode`, { method: 'POST', body: c.body, headers: { 'content-type': 'application/json' } });
      if (JSON.stringify(await e.json()) !== c.body) throw new Error('echo server does not echo');
      const st = await fetch(`${staticServer.url}/decode`, { method: 'POST', body: c.staticBody, headers: { 'content-type': 'application/json' } });
      const stOpened = payloadsFromJson(await st.json());
      if (st.status !== 200 || stOpened.length !== c.payloads || stOpened.some((p) => new TextDecoder().decode(p.metadata!.encoding!) !== 'json/plain')) throw new Error(`static-key server did not decode ${name}`);
    }

    const results: Record<string, { echo: Run; static: Run; codec: Run; codecKms20: Run; other?: Run; payloadsPerSec: number; ratio: number; staticRatio: number; kmsRatio: number; rssMb: number[] }> = {};
    for (const [name, c] of Object.entries(cases)) {
      const runs = { echo: [] as Run[], static: [] as Run[], codec: [] as Run[], codecKms20: [] as Run[], other: [] as Run[] };
      const rss: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        runs.echo.push(await load(echo.url, c.body, token, SECONDS));
        runs.static.push(await load(staticServer.url, c.staticBody, token, SECONDS));
        rss.push(rssMb(server.pid));
        runs.codec.push(await load(server.url, c.body, token, SECONDS));
        rss.push(rssMb(server.pid));
        runs.codecKms20.push(await load(slowKms.url, c.body, token, SECONDS));
        if (other) runs.other.push(await load(other.url, c.body, token, SECONDS));
      }
      const med = (rs: Run[]): Run => ({
        rps: median(rs.map((x) => x.rps)),
        p50: median(rs.map((x) => x.p50)),
        p99: median(rs.map((x) => x.p99)),
        errors: rs.reduce((a, x) => a + x.errors, 0),
        non2xx: rs.reduce((a, x) => a + x.non2xx, 0),
        requests: rs.reduce((a, x) => a + x.requests, 0),
      });
      const echoM = med(runs.echo);
      const staticM = med(runs.static);
      const codecM = med(runs.codec);
      const kmsM = med(runs.codecKms20);
      results[name] = { echo: echoM, static: staticM, codec: codecM, codecKms20: kmsM, payloadsPerSec: codecM.rps * c.payloads, ratio: codecM.rps / echoM.rps, staticRatio: codecM.rps / staticM.rps, kmsRatio: kmsM.rps / codecM.rps, rssMb: rss, ...(other ? { other: med(runs.other) } : {}) };
    }

    // Serial: one caller, 1 × 1 KB, interleaved rounds; p50/p99 of all requests of a side.
    const serialSides = {
      echo: { url: echo.url, body: serialCase.body },
      static: { url: staticServer.url, body: serialCase.staticBody },
      ours: { url: server.url, body: serialCase.body },
      ...(other ? { other: { url: other.url, body: serialCase.body } } : {}),
    };
    const serialMs: Record<string, number[]> = Object.fromEntries(Object.keys(serialSides).map((k) => [k, []]));
    for (const s of Object.values(serialSides)) await serialLatencies(s.url, '/decode', headersFor(token), s.body, Math.ceil(SERIAL_REQUESTS / 10));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [k, s] of Object.entries(serialSides)) serialMs[k]!.push(...(await serialLatencies(s.url, '/decode', headersFor(token), s.body, SERIAL_REQUESTS)));
    }
    const serial = Object.fromEntries(Object.entries(serialMs).map(([k, xs]) => [k, { p50: percentile(xs, 50), p99: percentile(xs, 99), requests: xs.length }]));

    let soak: { minutes: number; samples: { t: number; rssMb: number }[]; slopeMbPerMin: number; heapAfterGcMb: number[]; heapSlopeMbPerMin: number; requests: number; errors: number } | undefined;
    if (soakMinutes > 0) {
      const samples: { t: number; rssMb: number }[] = [];
      const t0 = Date.now();
      const timer = setInterval(() => samples.push({ t: (Date.now() - t0) / 60_000, rssMb: rssMb(server.pid) }), 5000);
      const run = await load(server.url, cases['10 × 1 KB'].body, token, Math.round(soakMinutes * 60));
      clearInterval(timer);
      const second = samples.filter((s) => s.t >= soakMinutes / 2);
      const n = second.length;
      const mt = second.reduce((a, s) => a + s.t, 0) / n;
      const mr = second.reduce((a, s) => a + s.rssMb, 0) / n;
      const slope = second.reduce((a, s) => a + (s.t - mt) * (s.rssMb - mr), 0) / second.reduce((a, s) => a + (s.t - mt) ** 2, 0);
      // The server's own samples of the heap after a full GC, over the soak's second half.
      const heap = readFileSync(heapFile, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number, number]).filter(([ts]) => ts >= t0 + (soakMinutes * 60_000) / 2);
      const ht = heap.map(([ts]) => (ts - t0) / 60_000);
      const hm = heap.map(([, h]) => h);
      const mht = ht.reduce((a, b) => a + b, 0) / ht.length;
      const mhm = hm.reduce((a, b) => a + b, 0) / hm.length;
      const heapSlope = ht.reduce((a, x, i) => a + (x - mht) * (hm[i]! - mhm), 0) / ht.reduce((a, x) => a + (x - mht) ** 2, 0);
      soak = { minutes: soakMinutes, samples, slopeMbPerMin: slope, heapAfterGcMb: hm, heapSlopeMbPerMin: heapSlope, requests: run.requests, errors: run.errors + run.non2xx };
    }

    const loadAfter = os.loadavg();
    const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', loadBefore, loadAfter, node: process.version };
    console.log(`\n/decode under load: ${CONNECTIONS} connections, ${ROUNDS} round(s) × ${SECONDS} s per side, ${WORKERS} worker process(es) per server; ours with static-token auth, policy, audit log and metrics on (medians)`);
    console.log(`machine: ${machine.cpus} × ${machine.model}, load average ${loadBefore.map((l) => fmt(l, 1)).join(' ')} before, ${loadAfter.map((l) => fmt(l, 1)).join(' ')} after; node ${machine.node}`);
    console.log(
      table(
        ['batch', 'echo req/s', 'static-key req/s', 'ours req/s', 'vs echo', 'vs static', 'payloads/s', 'p50 ms', 'p99 ms', 'errors', 'KMS 20 ms req/s', 'ratio'],
        Object.entries(results).map(([k, r]) => [k, fmt(r.echo.rps, 0), fmt(r.static.rps, 0), fmt(r.codec.rps, 0), fmt(r.ratio), fmt(r.staticRatio), fmt(r.payloadsPerSec, 0), fmt(r.codec.p50, 1), fmt(r.codec.p99, 1), r.codec.errors + r.codec.non2xx, fmt(r.codecKms20.rps, 0), fmt(r.kmsRatio)]),
      ),
    );
    console.log(`\nserial: one connection, one request at a time, 1 × 1 KB, ${ROUNDS} round(s) × ${SERIAL_REQUESTS} requests per side (interleaved)`);
    console.log(
      table(
        ['server', 'p50 ms', 'p99 ms', 'p50 ratio to echo'],
        Object.entries(serial).map(([k, s]) => [k === 'echo' ? 'fastify echo' : k === 'static' ? 'static-key' : k === 'other' ? `ours at ${compareTree}` : 'ours', fmt(s.p50, 3), fmt(s.p99, 3), fmt(s.p50 / serial.echo!.p50)]),
      ),
    );
    if (other) {
      console.log(`\nbefore/after in the same rounds: ours vs the codec server at ${compareTree} (same config, keyring and rounds)`);
      console.log(
        table(
          ['batch', `${compareTree} req/s`, 'vs echo', 'ours req/s', 'vs echo', 'ours / it', `${compareTree} p99 ms`, 'ours p99 ms'],
          Object.entries(results).map(([k, r]) => [k, fmt(r.other!.rps, 0), fmt(r.other!.rps / r.echo.rps), fmt(r.codec.rps, 0), fmt(r.ratio), fmt(r.codec.rps / r.other!.rps), fmt(r.other!.p99, 1), fmt(r.codec.p99, 1)]),
        ),
      );
    }
    if (soak) {
      console.log(`\nsoak: ${soak.minutes} min, ${soak.requests} requests, ${soak.errors} errors, server RSS slope over the second half ${fmt(soak.slopeMbPerMin, 2)} MB/min (${soak.samples.map((s) => fmt(s.rssMb, 0)).join(' ')})`);
      console.log(`soak: heap after full GC over the second half: slope ${fmt(soak.heapSlopeMbPerMin, 2)} MB/min (${soak.heapAfterGcMb.map((h) => fmt(h, 1)).join(' ')})`);
    }

    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'load.json'), `${JSON.stringify({ when: new Date().toISOString(), node: process.version, machine, workers: WORKERS, quick, connections: CONNECTIONS, rounds: ROUNDS, seconds: SECONDS, compareTree, results, serial, soak }, null, 2)}\n`);
    writeFileSync(
      path.join(outDir, 'load.svg'),
      ratioChart('codec server /decode: requests/s as a ratio to each baseline (red: target)', [
        ...Object.entries(results).map(([k, r]) => ({ baseline: 'a fastify echo server, same requests, same run', label: k, ratio: r.ratio, target: k === '10 × 1 KB' ? 0.8 : undefined })),
        ...Object.entries(results).map(([k, r]) => ({ baseline: 'the codec server with 0 ms KMS latency', label: `${k}, KMS 20 ms`, ratio: r.kmsRatio })),
      ]),
    );
    console.log(`\nwrote ${path.join(outDir, 'load.json')} and load.svg`);
  } finally {
    await Promise.all([echo.stop(), staticServer.stop(), server.stop(), slowKms.stop(), ...(other ? [other.stop()] : [])]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
