/**
 * The long fuzz (`npm run fuzz`): hostile HTTP requests against a codec server on loopback, in its
 * own process, and hostile payloads decoded in process. By default at least 100,000 requests and
 * 500,000 decodes; bounded in time (--max-minutes, default 30, shared 70/30 between the phases);
 * stops what it starts. Prints counts and writes them as JSON (--out, default
 * test-artifacts/fuzz-counts.json). Exit 0: targets reached, nothing broke; 1: a violation (a 5xx,
 * an untyped error, plaintext to the wrong caller, a secret in the log); 2: stopped by the time
 * bound first. `npm test` runs a small smoke of it (test/fuzz-script.test.ts).
 *
 *   npm run fuzz
 *   npm run fuzz -- --requests 2000 --decodes 20000 --seed 7 --concurrency 16
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowSerializationContext } from '@temporalio/common';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { EnvelopeCodec, LocalKeyring, makeScope } from '../codecs/index.js';
import { payloadsToJson } from '../codecs/payload-json.js';
import { newKeyringDocument } from '../keys/index.js';
import { sha256Hex } from '../src/server/index.js';
import { startJwtIssuer } from '../test/support/jwt-issuer.js';
import { jsonPayload } from '../test/support/payloads.js';
import { DECODE_CATEGORIES, runDecodeCase, type DecodeCategory, type DecodeFuzzContext } from './fuzz/decode-cases.js';
import { CATEGORIES, GUESSER, runCase, type Category, type FuzzRequest, type FuzzResponse, type HttpFuzzContext, type ProtoJsonPayload } from './fuzz/http-cases.js';
import { Rng } from './fuzz/rng.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REQUESTS = Number(arg('--requests') ?? 100_000);
const DECODES = Number(arg('--decodes') ?? 500_000);
const SEED = Number(arg('--seed') ?? Date.now() % 2 ** 31);
const CONCURRENCY = Number(arg('--concurrency') ?? 16);
const MAX_MS = Number(arg('--max-minutes') ?? 30) * 60_000;
const OUT = arg('--out') ?? path.join(here, '..', 'test-artifacts', 'fuzz-counts.json');
const MARKER = `FUZZ-PLAINTEXT-${randomBytes(6).toString('hex')}`;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const tally = (m: Record<string, number>, k: string, n = 1) => (m[k] = (m[k] ?? 0) + n);

async function main(): Promise<number> {
  const started = Date.now();
  const dir = mkdtempSync(path.join(tmpdir(), 'te-fuzz-'));
  const issuer = await startJwtIssuer();
  let server: { url: string; stop(): Promise<void> } | undefined;
  try {
    // The server creates it (mode 0600); we open it once the server is up.
    const keyringPath = path.join(dir, 'keyring.json');
    const tokens = { root: `te_root_${randomBytes(24).toString('base64url')}`, limited: `te_lim_${randomBytes(24).toString('base64url')}`, revoked: `te_rev_${randomBytes(24).toString('base64url')}` };
    const sessionSecret = randomBytes(32).toString('base64');
    const config = {
      server: { trustProxy: true, bodyLimitBytes: 256 * 1024, maxPayloadsPerRequest: 100 },
      cors: { origins: ['http://localhost:8233'] },
      auth: {
        staticTokens: [
          { principal: 'root', sha256: `sha256:${sha256Hex(tokens.root)}` },
          { principal: 'limited', sha256: `sha256:${sha256Hex(tokens.limited)}`, groups: ['tenant-a'] },
          { principal: 'gone', sha256: `sha256:${sha256Hex(tokens.revoked)}`, revoked: true },
        ],
        jwt: { jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: issuer.audience, clockToleranceSeconds: 5 },
        session: { secret: sessionSecret },
      },
      policy: {
        rules: [
          { principals: ['root'], namespaces: ['*'], actions: ['decode', 'encode'] },
          { groups: ['tenant-a'], namespaces: ['default'], workflowIdPatterns: ['tenant-a-*', 'tenant-*-*-prod'], actions: ['decode'] },
          { groups: ['sre'], namespaces: ['default'], actions: ['decode'] },
        ],
      },
      // The per-principal limit would turn a fuzz run into 429s; the failed-authentication one stays.
      rateLimit: { enabled: false, failedAuth: { max: 20, windowMs: 60_000 } },
    };
    const configPath = path.join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(config));
    const logPath = path.join(dir, 'server.log');
    server = await startServer({ FUZZ_CONFIG: configPath, FUZZ_KEYRING: keyringPath, FUZZ_LOG: logPath });

    const keyring = await LocalKeyring.open({ path: keyringPath, create: false, watchIntervalMs: 0 });
    const codec = new EnvelopeCodec({ keyProviders: keyring });
    const seal = async (workflowId?: string) => payloadsToJson(await codec.encodeInScope([jsonPayload({ m: MARKER, workflowId })], makeScope('default', workflowId))).payloads[0] as ProtoJsonPayload;
    const sealed = { a: await seal('tenant-a-1'), b: await seal('tenant-b-1'), prod: await seal('tenant-x-y-prod'), ns: await seal() };
    keyring.close();

    const rng = new Rng(SEED);
    const ctx: HttpFuzzContext = { rng, origin: server.url, marker: MARKER, tokens, jwts: await jwts(issuer), sealed };
    const httpDeadline = started + MAX_MS * 0.7;
    const http1 = await httpPhase(server.url, ctx, httpDeadline);
    await server.stop();
    server = undefined;

    // Nothing secret may reach the log: not the plaintext, tokens, JWTs, the session secret or a wrapped key.
    const log = readFileSync(logPath, 'utf8');
    const secrets = [MARKER, tokens.root, tokens.limited, tokens.revoked, sessionSecret, sealed.a.metadata['envelope-dek']!, ...ctx.jwts.valid];
    const logLeaks = secrets.filter((s) => log.includes(s)).length;

    const decode = await decodePhase(new Rng(SEED ^ 0x5eed), started + MAX_MS);
    const summary = {
      command: `npm run fuzz -- --requests ${REQUESTS} --decodes ${DECODES} --seed ${SEED}`,
      seed: SEED,
      seconds: Math.round((Date.now() - started) / 1000),
      http: { ...http1, logLines: log.split('\n').filter(Boolean).length, logLeaks },
      decode,
    };
    mkdirSync(path.dirname(OUT), { recursive: true });
    writeFileSync(OUT, `${JSON.stringify(summary, null, 2)}\n`);
    report(summary);
    const violations = http1.violations + decode.violations + logLeaks;
    if (violations > 0) return 1;
    return http1.requests >= REQUESTS && decode.decodes >= DECODES ? 0 : 2;
  } finally {
    await server?.stop();
    await issuer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function httpPhase(url: string, ctx: HttpFuzzContext, deadline: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const target = new URL(url);
  const counts = { requests: 0, cases: 0, clientRefused: 0, violations: 0, byCategory: {} as Record<string, number>, statuses: {} as Record<string, number>, guesser429: 0 };
  const samples: string[] = [];
  const started = Date.now();
  const send = (r: FuzzRequest, category: string) =>
    new Promise<FuzzResponse | undefined>((resolve, reject) => {
      let req: http.ClientRequest;
      try {
        // A Content-Length, not chunked: node sends chunked bodies in several writes, which with
        // delayed ACKs cost ~40 ms a request on loopback.
        const headers = { ...r.headers, 'content-length': String(Buffer.byteLength(r.body ?? '')) };
        req = http.request({ host: target.hostname, port: target.port, path: r.path, method: r.method ?? 'POST', agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            counts.requests++;
            tally(counts.byCategory, category);
            tally(counts.statuses, String(res.statusCode));
            if (res.statusCode === 429 && r.headers['x-forwarded-for'] === GUESSER) counts.guesser429++;
            resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
          });
        });
      } catch (err) {
        // node's client refuses some header bytes (a NUL) outright: nothing was sent.
        if ((err as NodeJS.ErrnoException).code === 'ERR_INVALID_CHAR') {
          counts.clientRefused++;
          return resolve(undefined);
        }
        return reject(err as Error);
      }
      req.on('error', reject);
      req.end(r.body);
    });
  const worker = async () => {
    while (counts.requests < REQUESTS && Date.now() < deadline) {
      const category = ctx.rng.weighted(CATEGORIES) as Category;
      const v = await runCase(category, ctx, send);
      counts.cases++;
      counts.violations += v.length;
      for (const s of v) if (samples.length < 20) samples.push(`${category}: ${s}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    agent.destroy();
  }
  // The guesser sends hundreds of bad credentials a minute: the throttle must have stopped it.
  if (counts.requests >= 1000 && counts.guesser429 === 0) {
    counts.violations++;
    samples.push('badAuth: the guessing address never got a 429');
  }
  return { ...counts, seconds: Math.round((Date.now() - started) / 1000), violationSamples: samples };
}

async function decodePhase(rng: Rng, deadline: number) {
  const ring = LocalKeyring.fromDocument(newKeyringDocument());
  const codecs = [new EnvelopeCodec({ keyProviders: ring }), new EnvelopeCodec({ keyProviders: ring, algorithm: 'XCHACHA20-POLY1305' })];
  const sealed: DecodeFuzzContext['sealed'] = [];
  for (const [i, codec] of codecs.entries()) {
    for (const [workflowId, size] of [['wf-fuzz-1', 10], ['tenant-a-42', 300], ['wf-fuzz-2', 4000]] as const) {
      const context: WorkflowSerializationContext = { type: 'workflow', namespace: 'default', workflowId };
      const [payload] = await codec.encode([jsonPayload({ m: MARKER, pad: 'x'.repeat(size) })], context);
      sealed.push({ codec: i, payload: payload!, context });
    }
  }
  const ctx: DecodeFuzzContext = { rng, marker: MARKER, codecs, sealed };
  const started = Date.now();
  const counts = { decodes: 0, violations: 0, byCategory: {} as Record<string, number>, outcomes: {} as Record<string, number> };
  const samples: string[] = [];
  while (counts.decodes < DECODES && Date.now() < deadline) {
    const category = rng.weighted(DECODE_CATEGORIES) as DecodeCategory;
    const r = await runDecodeCase(category, ctx);
    counts.decodes++;
    tally(counts.byCategory, category);
    tally(counts.outcomes, r.outcome);
    if (r.violation) {
      counts.violations++;
      if (samples.length < 20) samples.push(`${category}: ${r.violation}`);
    }
  }
  ring.close();
  return { ...counts, seconds: Math.round((Date.now() - started) / 1000), violationSamples: samples };
}

/** Valid JWTs, forgeries of every kind the issue tried, and authentic tokens that must still be refused. */
async function jwts(issuer: Awaited<ReturnType<typeof startJwtIssuer>>): Promise<HttpFuzzContext['jwts']> {
  const claims = { sub: 'fuzz-operator', groups: ['sre'] };
  const valid = await Promise.all(Array.from({ length: 20 }, (_, i) => issuer.sign({ ...claims, sub: `operator-${i}` }, { exp: '2h' })));
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = { ...claims, iss: issuer.issuer, aud: issuer.audience, iat: now, exp: now + 7200 };
  const jwks = await (await fetch(issuer.jwksUrl)).text();
  const own = await generateKeyPair('ES256');
  const ownJwk = await exportJWK(own.publicKey);
  const signOwn = (header: Record<string, unknown>) =>
    new SignJWT(body)
      .setProtectedHeader({ alg: 'ES256', ...header })
      .sign(own.privateKey);
  const forged = [
    `${b64({ alg: 'none', typ: 'JWT' })}.${b64(body)}.`,
    `${b64({ alg: 'none', kid: 'k1' })}.${b64(body)}.${Buffer.from('sig').toString('base64url')}`,
    await new SignJWT(body).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(jwks)),
    await new SignJWT(body).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(JSON.stringify((JSON.parse(jwks) as { keys: unknown[] }).keys[0]))),
    await issuer.sign(claims, { rogue: true }),
    await signOwn({ kid: 'k1' }),
    await signOwn({ kid: 'k1', jwk: ownJwk }),
    await signOwn({ jwk: ownJwk }),
    await signOwn({ kid: 'k1', jku: 'http://127.0.0.1:9/jwks.json' }),
    await signOwn({ kid: 'k1', x5u: 'http://127.0.0.1:9/cert.pem' }),
    await signOwn({ kid: '../../../../dev/null' }),
    `${valid[0]!.split('.').slice(0, 2).join('.')}.${Buffer.from(randomBytes(64)).toString('base64url')}`,
    `${valid[0]!.split('.')[0]}.${b64({ ...body, sub: 'root' })}.${valid[0]!.split('.')[2]}`,
  ];
  const refused = [
    await issuer.sign(claims, { exp: now - 3600 }),
    await issuer.sign(claims, { aud: 'another-app' }),
    await issuer.sign(claims, { iss: 'https://evil.example/' }),
    await issuer.sign({ ...claims, nbf: now + 3600 }),
    await issuer.sign({ groups: ['sre'] }),
  ];
  return { valid, forged, refused };
}

async function startServer(env: NodeJS.ProcessEnv): Promise<{ url: string; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fuzz', 'fuzz-server.ts')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!.trim());
    });
    child.once('exit', (code) => reject(new Error(`fuzz server exited with ${code}`)));
    setTimeout(() => reject(new Error('fuzz server did not start within 30 s')), 30_000).unref();
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

function report(s: { command: string; seconds: number; http: Awaited<ReturnType<typeof httpPhase>> & { logLines: number; logLeaks: number }; decode: Awaited<ReturnType<typeof decodePhase>> }): void {
  const line = (label: string, value: unknown) => console.log(`${label.padEnd(28)} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  console.log(`fuzz: ${s.command} (${s.seconds} s)`);
  line('HTTP requests', `${s.http.requests} in ${s.http.seconds} s`);
  line('  by category (requests)', s.http.byCategory);
  line('  statuses', s.http.statuses);
  line('  5xx', Object.entries(s.http.statuses).filter(([k]) => k.startsWith('5')).reduce((n, [, v]) => n + v, 0));
  line('  guesser throttled (429)', s.http.guesser429);
  line('  refused by the client', s.http.clientRefused);
  line('  violations', s.http.violations);
  line('  server log lines', s.http.logLines);
  line('  secrets in the log', s.http.logLeaks);
  line('in-process decodes', `${s.decode.decodes} in ${s.decode.seconds} s`);
  line('  by category', s.decode.byCategory);
  line('  outcomes', s.decode.outcomes);
  line('  violations', s.decode.violations);
  for (const v of [...s.http.violationSamples, ...s.decode.violationSamples]) console.log(`  ! ${v}`);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
