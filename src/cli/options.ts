import os from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { DEFAULT_KEYRING_PATH } from '../../keys/local-keyring.js';
import { parseShredStoreLocation, type ShredStoreOptions } from '../../keys/shred-store-options.js';
import { quietAwsSdk } from './aws-sdk.js';
import { UsageError } from './errors.js';
import { parseDuration, parseNonEmpty } from './parse.js';

/**
 * Options shared by several commands, defined once so every command spells them the same way and
 * shows them in its own --help.
 */

export type ProviderName = 'local' | 'aws-kms';

export const DEFAULT_KEY_CONFIG_PATH = path.join(os.homedir(), '.temporal-envelope', 'aws-kms-keys.json');

export interface KeySourceOptions {
  readonly provider: ProviderName;
  /** Local keyring file (provider "local"). */
  readonly keyring: string;
  /** AWS KMS key config file: the list of KMS keys, primary first (provider "aws-kms"). */
  readonly keyConfig: string;
  readonly kmsEndpoint?: string | undefined;
  readonly region?: string | undefined;
  /** The shred store (a directory, DynamoDB table or PostgreSQL database); when set, new payloads are shreddable. */
  readonly shredStore?: ShredStoreOptions | undefined;
  /** Legacy key file (keys of the Temporal samples' codec); undefined when not given. */
  readonly legacyKeys?: string | undefined;
}

export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print machine-readable JSON on stdout (errors as JSON on stderr)');
}

export function addKeySourceOptions(cmd: Command, options: { shredStore?: boolean } = {}): Command {
  cmd
    .addOption(new Option('--provider <name>', 'key provider').choices(['local', 'aws-kms']).env('TEMPORAL_ENVELOPE_PROVIDER').default('local'))
    .addOption(
      new Option('--keyring <path>', 'local keyring file').env('TEMPORAL_ENVELOPE_KEYRING').default(DEFAULT_KEYRING_PATH, '~/.temporal-envelope/keyring.json').argParser(parseNonEmpty),
    )
    .addOption(
      new Option('--key-config <path>', 'AWS KMS key config file (KMS keys, primary first)')
        .env('TEMPORAL_ENVELOPE_KEY_CONFIG')
        .default(DEFAULT_KEY_CONFIG_PATH, '~/.temporal-envelope/aws-kms-keys.json')
        .argParser(parseNonEmpty),
    )
    .addOption(new Option('--kms-endpoint <url>', 'AWS KMS endpoint (an AWS-compatible KMS, e.g. on loopback)').env('TEMPORAL_ENVELOPE_KMS_ENDPOINT'))
    .addOption(new Option('--region <region>', 'AWS region').env('AWS_REGION'));
  cmd.addOption(
    new Option('--legacy-keys <path>', "legacy key file: keys of the Temporal samples' encryption codec (keys import-legacy)").env('TEMPORAL_ENVELOPE_LEGACY_KEYS').argParser(parseNonEmpty),
  );
  if (options.shredStore !== false) cmd.addOption(shredStoreOption('the shred store of per-workflow secrets that makes payloads crypto-shreddable'));
  return cmd;
}

/**
 * `--key-hierarchy per-workflow|branch` (env TEMPORAL_ENVELOPE_KEY_HIERARCHY, the server config's
 * codec.keyHierarchy): how sealing makes data keys. Opening reads both formats either way.
 */
export function addKeyHierarchyOption(cmd: Command, what: string): Command {
  return cmd.addOption(
    new Option('--key-hierarchy <hierarchy>', `how ${what} makes data keys: a KMS data key per workflow (format v1) or derived from a branch key per namespace (format v2)`)
      .choices(['per-workflow', 'branch'])
      .env('TEMPORAL_ENVELOPE_KEY_HIERARCHY'),
  );
}

export const SHRED_STORE_FORMS = 'a directory, dynamodb://<table>?region=<r>[&endpoint=<url>], or postgres://<user>@<host>/<db>[?schema=<s>]';

/** `--shred-store <location>`: one flag for every kind of store, the same string TEMPORAL_ENVELOPE_SHRED_STORE takes. */
export function shredStoreOption(what: string): Option {
  return new Option('--shred-store <location>', `${what}: ${SHRED_STORE_FORMS}`).env('TEMPORAL_ENVELOPE_SHRED_STORE').argParser(parseNonEmpty);
}

/** The store a --shred-store value names; a DynamoDB URL without ?region= takes --region or AWS_REGION. */
export function shredStoreFrom(location: string | undefined, region?: string): ShredStoreOptions | undefined {
  if (location === undefined) return undefined;
  const store = parseShredStoreLocation(location, { region: region ?? process.env.AWS_REGION });
  if (store.type === 'dynamodb') quietAwsSdk();
  return store;
}

export function keySourceFrom(opts: Record<string, unknown>): KeySourceOptions {
  const provider = opts.provider as ProviderName;
  const kmsEndpoint = opts.kmsEndpoint as string | undefined;
  if (kmsEndpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(kmsEndpoint);
    } catch {
      throw new UsageError(`--kms-endpoint ${JSON.stringify(kmsEndpoint)} is not a URL (expected e.g. http://127.0.0.1:4566)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--kms-endpoint expected an http(s) URL, got ${url.protocol}`);
  }
  return {
    provider,
    keyring: path.resolve(opts.keyring as string),
    keyConfig: path.resolve(opts.keyConfig as string),
    kmsEndpoint,
    region: opts.region as string | undefined,
    shredStore: shredStoreFrom(opts.shredStore as string | undefined, opts.region as string | undefined),
    legacyKeys: opts.legacyKeys === undefined ? undefined : path.resolve(opts.legacyKeys as string),
  };
}

export interface TemporalConnectionOptions {
  readonly address: string;
  readonly namespace: string;
  readonly tls: boolean | undefined;
  readonly tlsCertPath?: string | undefined;
  readonly tlsKeyPath?: string | undefined;
  readonly tlsCaPath?: string | undefined;
  readonly tlsServerName?: string | undefined;
  readonly apiKey?: string | undefined;
  readonly connectTimeoutMs: number;
}

/** Named, and read from the environment, as the `temporal` CLI does. */
export function addTemporalOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--address <host:port>', 'Temporal frontend address').env('TEMPORAL_ADDRESS').default('localhost:7233').argParser(parseNonEmpty))
    .addOption(new Option('-n, --namespace <namespace>', 'Temporal namespace').env('TEMPORAL_NAMESPACE').default('default').argParser(parseNonEmpty))
    .addOption(new Option('--tls', 'connect with TLS (on by default with --api-key; env TEMPORAL_TLS=true|false)'))
    .addOption(new Option('--no-tls', 'connect without TLS even with --api-key'))
    .addOption(new Option('--tls-cert-path <path>', 'client certificate for mTLS').env('TEMPORAL_TLS_CLIENT_CERT_PATH'))
    .addOption(new Option('--tls-key-path <path>', 'client private key for mTLS').env('TEMPORAL_TLS_CLIENT_KEY_PATH'))
    .addOption(new Option('--tls-ca-path <path>', 'CA certificate to verify the server with').env('TEMPORAL_TLS_SERVER_CA_CERT_PATH'))
    .addOption(new Option('--tls-server-name <name>', 'server name to verify (SNI override)').env('TEMPORAL_TLS_SERVER_NAME'))
    .addOption(new Option('--api-key <key>', 'API key sent as a bearer token').env('TEMPORAL_API_KEY'))
    .addOption(new Option('--connect-timeout <duration>', 'give up connecting after this long').argParser(parseDuration).default(10_000, '10s'));
}

export function temporalOptionsFrom(opts: Record<string, unknown>): TemporalConnectionOptions {
  // commander would treat any TEMPORAL_TLS value, "false" too, as the flag being set: read it here.
  const tlsRaw = opts.tls ?? process.env.TEMPORAL_TLS;
  const tls = tlsRaw === undefined ? undefined : tlsRaw === true || tlsRaw === 'true' || tlsRaw === '1' ? true : tlsRaw === false || tlsRaw === 'false' || tlsRaw === '0' ? false : undefined;
  if (tlsRaw !== undefined && tls === undefined) throw new UsageError(`TEMPORAL_TLS expected true or false, got ${JSON.stringify(tlsRaw)}`);
  const out: TemporalConnectionOptions = {
    address: opts.address as string,
    namespace: opts.namespace as string,
    tls,
    tlsCertPath: opts.tlsCertPath as string | undefined,
    tlsKeyPath: opts.tlsKeyPath as string | undefined,
    tlsCaPath: opts.tlsCaPath as string | undefined,
    tlsServerName: opts.tlsServerName as string | undefined,
    apiKey: opts.apiKey as string | undefined,
    connectTimeoutMs: opts.connectTimeout as number,
  };
  if ((out.tlsCertPath === undefined) !== (out.tlsKeyPath === undefined)) {
    throw new UsageError('--tls-cert-path and --tls-key-path go together: give both or neither');
  }
  if (!/^[^\s:]+:\d+$/.test(out.address) && !/^\[[0-9a-fA-F:]+\]:\d+$/.test(out.address)) {
    throw new UsageError(`--address ${JSON.stringify(out.address)} expected host:port`);
  }
  return out;
}

/**
 * `-w, --workflow-id <id>`, as the `temporal` CLI spells it, on every command that takes one. The
 * spelling `--workflow <id>` (keys shred's before) is accepted too, hidden from --help, so scripts
 * written either way keep working.
 */
export function addWorkflowIdOption(cmd: Command, description: string): Command {
  return cmd
    .addOption(new Option('-w, --workflow-id <id>', description).argParser(parseNonEmpty))
    .addOption(new Option('--workflow <id>', 'same as --workflow-id').argParser(parseNonEmpty).hideHelp());
}

/** The workflow id from either spelling; both given and different is a usage error. */
export function workflowIdFrom(opts: Record<string, unknown>): string | undefined {
  const id = opts.workflowId as string | undefined;
  const alias = opts.workflow as string | undefined;
  if (id !== undefined && alias !== undefined && id !== alias) throw new UsageError(`--workflow-id ${JSON.stringify(id)} and --workflow ${JSON.stringify(alias)} disagree: give one`);
  return id ?? alias;
}
