/**
 * The TypeScript codec's vector tool (test/cross-language/README.md): seal a set of vectors any of
 * our codecs must open, or verify a set another codec sealed.
 *
 *   npx tsx test/cross-language/ts-vectors.ts generate --out FILE [--hierarchy per-workflow|branch] [--kms-endpoint URL --kms-key ID --region R]
 *   npx tsx test/cross-language/ts-vectors.ts verify FILE [--kms-endpoint URL --region R]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Payload, SerializationContext } from '@temporalio/common';
import { EnvelopeCodec, LocalKeyring, makeScope, type AeadAlgorithm, type Compression, type KeyHierarchy } from '../../codecs/index.js';
import { AwsKmsKeyring, type KeyProvider } from '../../keys/index.js';
import { fromProtoJson, jsonPayload, samePayload, toProtoJson } from '../support/payloads.js';

type ProtoJson = { metadata?: Record<string, string>; data?: string };
interface OpenIn {
  namespace: string;
  workflowId: string | null;
}
/** The decoder's scope options for one vector; absent: the defaults (namespace-scoped refused, schedule runs accepted). */
interface DecodeOptions {
  acceptNamespaceScoped?: boolean;
  scheduleRuns?: boolean;
}
interface ValidVector {
  name: string;
  provider: 'local' | 'aws-kms';
  algorithm: AeadAlgorithm;
  compression: Compression | false;
  namespace: string;
  workflowId: string | null;
  input: ProtoJson;
  sealed: ProtoJson;
  openIn?: OpenIn;
  options?: DecodeOptions;
}
interface InvalidVector {
  name: string;
  code: string;
  provider: 'local' | 'aws-kms';
  sealed: ProtoJson;
  openIn?: OpenIn;
  options?: DecodeOptions;
}
interface VectorFile {
  format: 'temporal-envelope/cross-v1';
  generator: string;
  /** How the data keys were made: "branch" seals format v2. Absent: "per-workflow" (format v1). */
  hierarchy?: KeyHierarchy;
  note: string;
  keyring: unknown;
  kms?: { keyId: string; region: string };
  valid: ValidVector[];
  invalid: InvalidVector[];
}

interface Args {
  verb: string;
  file?: string | undefined;
  out?: string | undefined;
  kmsEndpoint?: string | undefined;
  kmsKey?: string | undefined;
  region?: string | undefined;
  hierarchy: KeyHierarchy;
}

function parseArgs(argv: string[]): Args {
  const [verb, ...rest] = argv;
  const args: Args = { verb: verb ?? '', hierarchy: 'per-workflow' };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const value = () => {
      const v = rest[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--out') args.out = value();
    else if (a === '--kms-endpoint') args.kmsEndpoint = value();
    else if (a === '--kms-key') args.kmsKey = value();
    else if (a === '--region') args.region = value();
    else if (a === '--hierarchy') {
      const h = value();
      if (h !== 'per-workflow' && h !== 'branch') throw new Error(`--hierarchy expected per-workflow or branch, got ${JSON.stringify(h)}`);
      args.hierarchy = h;
    }
    else if (!a.startsWith('--') && args.file === undefined) args.file = a;
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

// moto accepts any credentials; a real AWS account would use the default credential chain.
function kmsRing(keyId: string, endpoint: string, region: string): AwsKmsKeyring {
  const credentials =
    process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY
      ? { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY }
      : { accessKeyId: 'testing', secretAccessKey: 'testing' };
  return new AwsKmsKeyring({ keys: [{ keyId }], region, endpoint, credentials });
}

const utf8 = new TextEncoder();

async function generate(args: Args): Promise<void> {
  if (args.out === undefined) throw new Error('generate needs --out FILE');
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const keyring = {
    format: 'temporal-envelope-keyring/v1',
    keys: [
      { id: `local-1-${randomBytes(4).toString('hex')}`, version: 1, state: 'decrypt-only', created: new Date().toISOString(), material: randomBytes(32).toString('base64') },
      { id: `local-2-${randomBytes(4).toString('hex')}`, version: 2, state: 'primary', created: new Date().toISOString(), material: randomBytes(32).toString('base64') },
    ],
  };
  const local = LocalKeyring.fromDocument(structuredClone(keyring) as Parameters<typeof LocalKeyring.fromDocument>[0]);
  const providers: Record<'local' | 'aws-kms', KeyProvider | undefined> = { local, 'aws-kms': undefined };
  const region = args.region ?? 'us-east-1';
  if (args.kmsEndpoint !== undefined) {
    if (args.kmsKey === undefined) throw new Error('--kms-endpoint needs --kms-key');
    providers['aws-kms'] = kmsRing(args.kmsKey, args.kmsEndpoint, region);
  }
  const big = jsonPayload({ note: 'repetitive text compresses well '.repeat(64) });
  type Case = Omit<ValidVector, 'sealed' | 'input'> & { input: Payload };
  const cases: Case[] = [];
  const add = (c: Case) => cases.push(c);
  for (const provider of ['local', 'aws-kms'] as const) {
    if (providers[provider] === undefined) continue;
    const p = provider === 'local' ? '' : ' (KMS)';
    add({ name: `aes-gcm workflow scope${p}`, provider, algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId: 'grant-42', input: jsonPayload({ token: 'dlg_test_only', email: 'ada@example.com' }), openIn: { namespace: 'default', workflowId: 'grant-42' } });
    add({ name: `aes-gcm namespace scope${p}`, provider, algorithm: 'AES-256-GCM', compression: false, namespace: 'tenant-a', workflowId: null, input: jsonPayload('approve') });
    add({ name: `xchacha workflow scope${p}`, provider, algorithm: 'XCHACHA20-POLY1305', compression: false, namespace: 'default', workflowId: 'grant-43', input: jsonPayload([1, 2, 3]) });
    add({ name: `xchacha namespace scope${p}`, provider, algorithm: 'XCHACHA20-POLY1305', compression: false, namespace: 'tenant-b', workflowId: null, input: jsonPayload({ n: 1 }) });
    add({ name: `aes-gcm deflate${p}`, provider, algorithm: 'AES-256-GCM', compression: 'deflate', namespace: 'default', workflowId: 'grant-44', input: big });
    add({ name: `xchacha deflate${p}`, provider, algorithm: 'XCHACHA20-POLY1305', compression: 'deflate', namespace: 'default', workflowId: 'grant-45', input: big });
  }
  add({ name: 'empty data, unicode workflow id', provider: 'local', algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId: 'wf-ünïcødé-✓-😀', input: { metadata: { encoding: utf8.encode('binary/null') } } });
  add({
    name: 'binary payload with extra metadata',
    provider: 'local',
    algorithm: 'XCHACHA20-POLY1305',
    compression: false,
    namespace: 'ns.with.dots',
    workflowId: 'x',
    input: { metadata: { encoding: utf8.encode('binary/plain'), 'custom-key': new Uint8Array([0, 255, 1]) }, data: new Uint8Array([0, 1, 2, 254, 255]) },
  });
  // Ids every codec must carry byte for byte (docs/wire-format.md): a leading BOM, NUL, the 1024-byte limit.
  const exact = (name: string, workflowId: string) =>
    add({ name, provider: 'local', algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId, input: jsonPayload(name), openIn: { namespace: 'default', workflowId } });
  exact('workflow id with a leading BOM', '\ufeffgrant-bom');
  exact('workflow id with NUL', 'grant\u0000nul');
  exact('workflow id of 1024 UTF-8 bytes', `${'x'.repeat(1020)}😀`);
  // The schedule-run clause: sealed for the schedule action's id, opened in a run the server started.
  add({ name: 'schedule action opened in its run', provider: 'local', algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId: 'nightly-report', input: jsonPayload({ run: 'scheduled' }), openIn: { namespace: 'default', workflowId: 'nightly-report-2026-11-25T15:14:31Z' } });
  add({ name: 'namespace scope opened in a workflow, accepted by option', provider: 'local', algorithm: 'AES-256-GCM', compression: false, namespace: 'default', workflowId: null, input: jsonPayload('from the UI'), openIn: { namespace: 'default', workflowId: 'grant-42' }, options: { acceptNamespaceScoped: true } });

  const valid: ValidVector[] = [];
  for (const c of cases) {
    const codec = new EnvelopeCodec({ keyProviders: providers[c.provider]!, keyHierarchy: args.hierarchy, algorithm: c.algorithm, compression: c.compression, compressionMinBytes: 256 });
    const [sealed] = await codec.encodeInScope([c.input], makeScope(c.namespace, c.workflowId ?? undefined));
    valid.push({ ...c, input: toProtoJson(c.input), sealed: toProtoJson(sealed!) });
  }

  const first = valid[0]!.sealed as Required<ProtoJson>;
  const byName = (name: string) => valid.find((v) => v.name === name)!.sealed;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const withMeta = (k: string, v: string | undefined): ProtoJson => {
    const metadata = { ...first.metadata };
    if (v === undefined) delete metadata[k];
    else metadata[k] = v;
    return { metadata, data: first.data };
  };
  const data = Buffer.from(first.data, 'base64');
  const flipped = Buffer.from(data);
  flipped[flipped.length - 1]! ^= 0x01;
  const flipped20 = (field: string) => {
    const bytes = Buffer.from(first.metadata[field]!, 'base64');
    bytes[20]! ^= 0x80;
    return bytes.toString('base64');
  };
  // The wrapped key's fields: v1's wrapped DEK, or v2's wrapped branch key and salt.
  const keyCases: InvalidVector[] =
    args.hierarchy === 'branch'
      ? [
          { name: 'wrapped branch key altered', code: 'TAMPERED_CIPHERTEXT', provider: 'local', sealed: withMeta('envelope-branch-key', flipped20('envelope-branch-key')) },
          { name: 'salt altered', code: 'TAMPERED_CIPHERTEXT', provider: 'local', sealed: withMeta('envelope-dek-salt', flipped20('envelope-dek-salt')) },
          { name: 'wrapped branch key missing', code: 'MALFORMED_PAYLOAD', provider: 'local', sealed: withMeta('envelope-branch-key', undefined) },
          { name: 'salt missing', code: 'MALFORMED_PAYLOAD', provider: 'local', sealed: withMeta('envelope-dek-salt', undefined) },
          { name: 'salt of 16 bytes', code: 'MALFORMED_PAYLOAD', provider: 'local', sealed: withMeta('envelope-dek-salt', Buffer.alloc(16).toString('base64')) },
          { name: 'version relabelled 2 to 1', code: 'MALFORMED_PAYLOAD', provider: 'local', sealed: withMeta('envelope-version', b64('1')) },
          { name: 'version 2 carrying an envelope-dek', code: 'UNSUPPORTED_FORMAT', provider: 'local', sealed: withMeta('envelope-dek', first.metadata['envelope-branch-key']) },
        ]
      : [
          { name: 'wrapped DEK altered', code: 'TAMPERED_CIPHERTEXT', provider: 'local', sealed: withMeta('envelope-dek', flipped20('envelope-dek')) },
          { name: 'wrapped DEK missing', code: 'MALFORMED_PAYLOAD', provider: 'local', sealed: withMeta('envelope-dek', undefined) },
        ];
  const invalid: InvalidVector[] = [
    { name: 'last tag bit flipped', code: 'TAMPERED_CIPHERTEXT', provider: 'local', sealed: { metadata: first.metadata, data: flipped.toString('base64') } },
    { name: 'truncated to 10 bytes', code: 'TAMPERED_CIPHERTEXT', provider: 'local', sealed: { metadata: first.metadata, data: data.subarray(0, 10).toString('base64') } },
    { name: 'workflow id swapped in the header', code: 'TAMPERED_CIPHERTEXT', provider: 'local', sealed: withMeta('envelope-workflow-id', b64('grant-666')) },
    { name: 'workflow id removed from the header', code: 'TAMPERED_CIPHERTEXT', provider: 'local', sealed: withMeta('envelope-workflow-id', undefined) },
    { name: 'namespace swapped in the header', code: 'TAMPERED_CIPHERTEXT', provider: 'local', sealed: withMeta('envelope-namespace', b64('other')) },
    { name: 'algorithm relabelled', code: 'TAMPERED_CIPHERTEXT', provider: 'local', sealed: withMeta('envelope-alg', b64('XCHACHA20-POLY1305')) },
    { name: 'unknown key id', code: 'UNKNOWN_KEY', provider: 'local', sealed: withMeta('encryption-key-id', b64('local-9-deadbeef')) },
    { name: 'future format version', code: 'UNSUPPORTED_FORMAT', provider: 'local', sealed: withMeta('envelope-version', b64('9')) },
    { name: 'unknown algorithm', code: 'UNSUPPORTED_FORMAT', provider: 'local', sealed: withMeta('envelope-alg', b64('ROT13')) },
    ...keyCases,
    { name: 'opened in another workflow', code: 'SCOPE_MISMATCH', provider: 'local', sealed: first, openIn: { namespace: 'default', workflowId: 'grant-43' } },
    { name: 'opened in another namespace', code: 'SCOPE_MISMATCH', provider: 'local', sealed: first, openIn: { namespace: 'other', workflowId: 'grant-42' } },
    { name: 'namespace scope opened in a workflow', code: 'SCOPE_MISMATCH', provider: 'local', sealed: byName('aes-gcm namespace scope'), openIn: { namespace: 'tenant-a', workflowId: 'grant-42' } },
    { name: 'schedule action opened in a run-shaped id that is no time', code: 'SCOPE_MISMATCH', provider: 'local', sealed: byName('schedule action opened in its run'), openIn: { namespace: 'default', workflowId: 'nightly-report-2026-13-45T99:99:99Z' } },
    { name: 'schedule action opened in its run, scheduleRuns off', code: 'SCOPE_MISMATCH', provider: 'local', sealed: byName('schedule action opened in its run'), openIn: { namespace: 'default', workflowId: 'nightly-report-2026-11-25T15:14:31Z' }, options: { scheduleRuns: false } },
  ];
  const kmsVector = valid.find((v) => v.provider === 'aws-kms');
  if (kmsVector !== undefined) {
    const kd = kmsVector.sealed as Required<ProtoJson>;
    const field = args.hierarchy === 'branch' ? 'envelope-branch-key' : 'envelope-dek';
    const kw = Buffer.from(kd.metadata[field]!, 'base64');
    kw[kw.length - 5]! ^= 0x01;
    invalid.push({ name: `KMS-wrapped ${args.hierarchy === 'branch' ? 'branch key' : 'DEK'} altered`, code: 'TAMPERED_CIPHERTEXT', provider: 'aws-kms', sealed: { metadata: { ...kd.metadata, [field]: kw.toString('base64') }, data: kd.data } });
  }
  const file: VectorFile = {
    format: 'temporal-envelope/cross-v1',
    generator: 'typescript',
    ...(args.hierarchy === 'branch' ? { hierarchy: args.hierarchy } : {}),
    note: 'TEST ONLY: the keys below were generated for this file and protect nothing.',
    keyring,
    ...(args.kmsKey !== undefined && args.kmsEndpoint !== undefined ? { kms: { keyId: args.kmsKey, region } } : {}),
    valid,
    invalid,
  };
  writeFileSync(args.out, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  for (const p of Object.values(providers)) await p?.close?.();
}

function contextOf(openIn: OpenIn | undefined): SerializationContext | undefined {
  if (openIn === undefined) return undefined;
  if (openIn.workflowId === null) return { type: 'activity', namespace: openIn.namespace, isLocal: false } as SerializationContext;
  return { type: 'workflow', namespace: openIn.namespace, workflowId: openIn.workflowId };
}

async function verify(args: Args): Promise<number> {
  if (args.file === undefined) throw new Error('verify needs FILE');
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const file = JSON.parse(readFileSync(args.file, 'utf8')) as VectorFile;
  if (file.format !== 'temporal-envelope/cross-v1') throw new Error(`${args.file}: format ${JSON.stringify(file.format)} is not temporal-envelope/cross-v1`);
  const providers: KeyProvider[] = [LocalKeyring.fromDocument(file.keyring as Parameters<typeof LocalKeyring.fromDocument>[0])];
  if (file.kms !== undefined) {
    if (args.kmsEndpoint === undefined) throw new Error(`${args.file} has KMS vectors: pass --kms-endpoint`);
    providers.push(kmsRing(file.kms.keyId, args.kmsEndpoint, args.region ?? file.kms.region));
  }
  const codecs = new Map<string, EnvelopeCodec>();
  const codecFor = (options: DecodeOptions | undefined) => {
    const key = JSON.stringify([options?.acceptNamespaceScoped ?? null, options?.scheduleRuns ?? null]);
    let codec = codecs.get(key);
    if (codec === undefined) {
      codec = new EnvelopeCodec({ keyProviders: providers, acceptNamespaceScoped: options?.acceptNamespaceScoped, scheduleRuns: options?.scheduleRuns });
      codecs.set(key, codec);
    }
    return codec;
  };
  const failures: string[] = [];
  let opened = 0;
  let rejected = 0;
  for (const v of file.valid) {
    try {
      const [out] = await codecFor(v.options).decode([fromProtoJson(v.sealed)], contextOf(v.openIn));
      if (samePayload(out!, fromProtoJson(v.input))) opened++;
      else failures.push(`${v.name}: opened to a different payload`);
    } catch (err) {
      failures.push(`${v.name}: ${(err as { code?: string }).code ?? 'ERROR'} ${(err as Error).message}`);
    }
  }
  for (const v of file.invalid) {
    try {
      await codecFor(v.options).decode([fromProtoJson(v.sealed)], contextOf(v.openIn));
      failures.push(`${v.name}: opened, expected ${v.code}`);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === v.code) rejected++;
      else failures.push(`${v.name}: failed with ${code ?? 'ERROR'} (${(err as Error).message}), expected ${v.code}`);
    }
  }
  for (const p of providers) await p.close?.();
  process.stdout.write(`${JSON.stringify({ generator: file.generator, verifier: 'typescript', opened, rejected, failures })}\n`);
  return failures.length === 0 ? 0 : 1;
}

const args = parseArgs(process.argv.slice(2));
if (args.verb === 'generate') await generate(args);
else if (args.verb === 'verify') process.exitCode = await verify(args);
else {
  process.stderr.write('usage: ts-vectors.ts generate --out FILE [--hierarchy per-workflow|branch] [--kms-endpoint URL --kms-key ID --region R] | verify FILE [--kms-endpoint URL --region R]\n');
  process.exitCode = 2;
}
