import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DockerfileParser, type Env } from 'dockerfile-ast';
import YAML from 'yaml';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeKeyring } from '../keys/admin/rotation.js';
import { isKmsKeyId, validateKmsKeyConfig } from '../keys/kms-key-config.js';
import { newKeyringDocument, readKeyring } from '../keys/keyring-file.js';
import { loadConfig, validateConfig } from '../src/config/load.js';
import { configSchema, type ServerConfig } from '../src/config/schema.js';
import { REPO_ROOT } from './cli-support/run-cli.js';
import { KUBERNETES_MODELS, type K8sObject } from './support/kubernetes-models.js';

/**
 * The Helm chart, checked with a real helm (v3.22.0, built from the Go module proxy into .tools/bin
 * by scripts/setup-test-deps.mjs; missing is a failure): lint and lint --strict, then for the
 * defaults and every file in examples/: each rendered object against its Kubernetes schema, the pod
 * hardening and probes, the wiring between objects, and the rendered server config through the
 * server's own validator — loaded the way the container loads it, with the image's and the pod's
 * environment on top. Values that are wrong must stop the render with a message naming them.
 */

const exec = promisify(execFile);
const HELM = path.join(REPO_ROOT, '.tools', 'bin', 'helm');
const HELM_VERSION = 'v3.22.0';
const CHART = path.join(REPO_ROOT, 'deploy', 'helm', 'temporal-envelope');
const EXAMPLES = readdirSync(path.join(CHART, 'examples')).filter((f) => f.endsWith('.yaml')).sort();
const CASES = [{ name: 'defaults', args: [] as string[] }, ...EXAMPLES.map((f) => ({ name: `examples/${f}`, args: ['-f', path.join(CHART, 'examples', f)] }))];

let home: string;
beforeAll(() => {
  home = mkdtempSync(path.join(tmpdir(), 'te-helm-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** helm with a home of its own: it neither reads nor writes the user's helm config, repos or cache. */
function helm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const env = { PATH: process.env.PATH, HOME: home, HELM_CACHE_HOME: path.join(home, 'cache'), HELM_CONFIG_HOME: path.join(home, 'config'), HELM_DATA_HOME: path.join(home, 'data') };
  return exec(HELM, args, { env, maxBuffer: 16 * 1024 * 1024 });
}

async function helmError(args: string[]): Promise<string> {
  try {
    await helm(args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return e.stderr || e.message;
  }
  throw new Error(`helm ${args.join(' ')} succeeded; expected it to fail`);
}

const renders = new Map<string, Promise<K8sObject[]>>();
function render(args: string[]): Promise<K8sObject[]> {
  const key = args.join(' ');
  if (!renders.has(key)) {
    renders.set(
      key,
      helm(['template', 'te', CHART, '--namespace', 'te-ns', ...args]).then(({ stdout }) =>
        YAML.parseAllDocuments(stdout)
          .map((d) => d.toJS() as K8sObject | null)
          .filter((o): o is K8sObject => o !== null),
      ),
    );
  }
  return renders.get(key)!;
}

// Loose views of the objects the assertions read.
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; capabilities?: { drop?: string[] } };
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Probe {
  httpGet: { path: string; port: string | number; scheme?: string };
}
interface Volume {
  name: string;
  configMap?: { name: string; items?: { key: string; path: string }[] };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  emptyDir?: { medium?: string };
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds: number;
  securityContext: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number; seccompProfile?: { type: string } };
  topologySpreadConstraints?: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }[];
  initContainers?: Container[];
  containers: Container[];
  volumes: Volume[];
}
interface Deployment extends K8sObject {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: PodSpec } };
}

function only<T extends K8sObject>(objs: K8sObject[], kind: string): T {
  const found = objs.filter((o) => o.kind === kind);
  expect(found.map((o) => o.metadata?.name), `exactly one ${kind}`).toHaveLength(1);
  return found[0] as T;
}

const isSubset = (sub: Record<string, string>, of: Record<string, string>) => Object.entries(sub).every(([k, v]) => of[k] === v);

/** The environment the image sets (deploy/Dockerfile's last stage), which the pod's env overrides. */
function imageEnv(): Record<string, string> {
  const df = DockerfileParser.parse(readFileSync(path.join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8'));
  const lastFrom = df.getFROMs().at(-1)!.getRange().start.line;
  const envs = df.getInstructions().filter((i) => i.getKeyword() === 'ENV' && i.getRange().start.line > lastFrom) as Env[];
  return Object.fromEntries(envs.flatMap((e) => e.getProperties().map((p) => [p.getName(), p.getValue() ?? ''])));
}

/** The server config as the container loads it: the ConfigMap's file, then the image's and the pod's environment. */
function containerConfig(objs: K8sObject[], source: string): { fileConfig: Readonly<ServerConfig>; loaded: Readonly<ServerConfig> } {
  const deployment = only<Deployment>(objs, 'Deployment');
  const server = deployment.spec.template.spec.containers[0]!;
  const configVolume = deployment.spec.template.spec.volumes.find((v) => v.name === 'config')!;
  const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === configVolume.configMap?.name) as (K8sObject & { data: Record<string, string> }) | undefined;
  expect(cm, `${source}: the ConfigMap the config volume names is rendered`).toBeDefined();
  const text = cm!.data['config.yaml']!;
  const fileConfig = validateConfig(YAML.parse(text), `${source} ConfigMap`);

  const configPath = server.args![server.args!.indexOf('--config') + 1]!;
  expect(server.volumeMounts!.find((m) => m.name === 'config')!.mountPath).toBe(path.dirname(configPath));
  const env: Record<string, string> = { ...imageEnv() };
  for (const e of server.env ?? []) {
    // A Secret's value is not known here; the session secret's rule is length >= 44 (base64 of 32 bytes).
    env[e.name] = e.value ?? (e.valueFrom?.secretKeyRef ? 'c2Vzc2lvbi1zZWNyZXQtZnJvbS1hLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm' : '');
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'te-helm-config-'));
  try {
    writeFileSync(path.join(dir, path.basename(configPath)), text);
    return { fileConfig, loaded: loadConfig({ file: path.join(dir, path.basename(configPath)), env }) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('helm', () => {
  it(`is the pinned ${HELM_VERSION}, built by scripts/setup-test-deps.mjs`, async () => {
    expect(existsSync(HELM), `${HELM} is missing: run "node scripts/setup-test-deps.mjs" (npm test does)`).toBe(true);
    expect((await helm(['version', '--short'])).stdout.trim()).toBe(HELM_VERSION);
  });
});

describe.each(CASES)('the Helm chart with $name', ({ name, args }) => {
  it('passes helm lint and helm lint --strict', async () => {
    for (const strict of [[], ['--strict']]) {
      const { stdout } = await helm(['lint', CHART, ...strict, ...args]);
      expect(stdout, `helm lint ${strict.join(' ')}`).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
      expect(stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  it('renders objects that each validate against the schema of their kind', async () => {
    const objs = await render(args);
    expect(objs.length).toBeGreaterThanOrEqual(5);
    for (const obj of objs) {
      const where = `${name}: ${obj.kind} ${obj.metadata?.name}`;
      const Model = KUBERNETES_MODELS[`${obj.apiVersion}/${obj.kind}`];
      expect(Model, `${where}: no schema for ${obj.apiVersion} ${obj.kind}`).toBeDefined();
      expect(() => new Model!(obj as never).validate(), where).not.toThrow();
      expect(obj.metadata?.labels?.['app.kubernetes.io/instance'], where).toBe('te');
    }
    for (const kind of ['ConfigMap', 'Deployment', 'Service']) expect(objs.some((o) => o.kind === kind), kind).toBe(true);
  });

  it('hardens every container and probes the real health routes', async () => {
    const objs = await render(args);
    const d = only<Deployment>(objs, 'Deployment');
    const pod = d.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      expect(c.securityContext, c.name).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      expect(c.securityContext?.capabilities?.drop, c.name).toContain('ALL');
      expect(Object.keys(c.resources?.requests ?? {}).length, `${c.name} resource requests`).toBeGreaterThan(0);
      expect(c.resources?.limits?.memory, `${c.name} memory limit`).toBeDefined();
    }
    const spread = pod.topologySpreadConstraints ?? [];
    expect(spread.map((t) => t.topologyKey)).toContain('topology.kubernetes.io/zone');
    for (const t of spread) expect(isSubset(t.labelSelector.matchLabels, d.spec.template.metadata.labels)).toBe(true);

    const c = pod.containers[0]!;
    const { loaded } = containerConfig(objs, name);
    const scheme = loaded.server.tls ? 'HTTPS' : 'HTTP';
    expect(c.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', scheme });
    expect(c.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', scheme });
    expect(c.startupProbe?.httpGet).toMatchObject({ path: '/healthz', scheme });
    const http = c.ports!.find((p) => p.name === c.readinessProbe!.httpGet.port);
    expect(http?.containerPort, 'the probes name the port the server listens on').toBe(loaded.server.port);
    for (const p of [c.livenessProbe!, c.startupProbe!]) expect(p.httpGet.port).toBe(c.readinessProbe!.httpGet.port);
    // SIGTERM comes after preStop; the drain must end before the kill.
    const preStop = Number(c.lifecycle?.preStop?.exec?.command.at(-1) ?? 0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + loaded.server.shutdownGraceMs / 1000);
  });

  it('renders a server config the server accepts, and mounts every file it names', async () => {
    const objs = await render(args);
    const { fileConfig, loaded } = containerConfig(objs, name);
    // What the environment may override must not disagree with the file on anything the chart wires.
    expect(loaded.server).toEqual(fileConfig.server);
    expect(loaded.keys.provider).toBe(fileConfig.keys.provider);
    if (loaded.keys.provider === 'local') expect(loaded.keys.local).toEqual(fileConfig.keys.local);
    else expect(loaded.keys.awsKms).toEqual(fileConfig.keys.awsKms);
    expect(loaded.server.host).toBe('0.0.0.0');

    const pod = only<Deployment>(objs, 'Deployment').spec.template.spec;
    const server = pod.containers[0]!;
    const files = [loaded.keys.provider === 'local' ? loaded.keys.local.path : loaded.keys.awsKms?.keyConfigFile, loaded.server.tls?.certFile, loaded.server.tls?.keyFile].filter((f): f is string => f !== undefined);
    for (const file of files) {
      const mount = server.volumeMounts!.find((m) => m.mountPath === path.dirname(file));
      expect(mount, `${file} is in a mounted directory`).toBeDefined();
      expect(mount!.readOnly, `${file} is mounted read-only`).toBe(true);
      const volume = pod.volumes.find((v) => v.name === mount!.name)!;
      const items = volume.configMap?.items ?? volume.secret?.items;
      if (items) expect(items.map((i) => i.path), `${file} is projected from its volume`).toContain(path.basename(file));
    }

    if (loaded.keys.provider === 'aws-kms') {
      const kms = loaded.keys.awsKms!;
      expect(kms.region, 'AWS region').toBeDefined();
      expect(server.env?.find((e) => e.name === 'AWS_REGION')?.value).toBe(kms.region);
      for (const k of kms.keys ?? []) expect(isKmsKeyId(k.keyId), k.keyId).toBe(true);
      if (kms.keyConfigFile) {
        // A key config the chart renders must be one the server reads; one the user manages is theirs.
        const volume = pod.volumes.find((v) => v.name === server.volumeMounts!.find((m) => m.mountPath === path.dirname(kms.keyConfigFile!))!.name)!;
        const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === volume.configMap!.name) as (K8sObject & { data: Record<string, string> }) | undefined;
        if (cm) {
          const text = cm.data[path.basename(kms.keyConfigFile)]!;
          const doc = validateKmsKeyConfig(/\.ya?ml$/.test(kms.keyConfigFile) ? YAML.parse(text) : JSON.parse(text), kms.keyConfigFile);
          expect(doc.keys[0]!.state).toBe('primary');
        }
      }
    }
  });

  it('wires its objects to each other', async () => {
    const objs = await render(args);
    const d = only<Deployment>(objs, 'Deployment');
    const podLabels = d.spec.template.metadata.labels;
    const pod = d.spec.template.spec;
    expect(isSubset(d.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(d.spec.template.metadata.annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);

    const service = only<K8sObject & { spec: { selector: Record<string, string>; ports: { name: string; targetPort: string }[] } }>(objs, 'Service');
    expect(isSubset(service.spec.selector, podLabels), 'Service selects the pods').toBe(true);
    expect(pod.containers[0]!.ports!.map((p) => p.name)).toContain(service.spec.ports[0]!.targetPort);

    const sa = objs.find((o) => o.kind === 'ServiceAccount');
    if (sa) expect(pod.serviceAccountName).toBe(sa.metadata?.name);

    for (const o of objs.filter((x) => x.kind === 'PodDisruptionBudget')) {
      expect(isSubset((o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, podLabels), 'PDB selects the pods').toBe(true);
    }
    for (const o of objs.filter((x) => x.kind === 'NetworkPolicy')) {
      const spec = o.spec as { podSelector: { matchLabels: Record<string, string> }; ingress: { ports: { port: string | number }[] }[] };
      expect(isSubset(spec.podSelector.matchLabels, podLabels), 'NetworkPolicy selects the pods').toBe(true);
      expect(spec.ingress.flatMap((r) => r.ports.map((p) => p.port))).toEqual(['http']);
    }
    const hpa = objs.find((o) => o.kind === 'HorizontalPodAutoscaler') as (K8sObject & { spec: { scaleTargetRef: { kind: string; name: string } } }) | undefined;
    if (hpa) {
      expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: d.metadata?.name });
      expect(d.spec.replicas, 'the HPA owns the replica count').toBeUndefined();
    } else {
      expect(d.spec.replicas).toBeGreaterThanOrEqual(1);
    }
    for (const sm of objs.filter((x) => x.kind === 'ServiceMonitor')) {
      const spec = sm.spec as { selector: { matchLabels: Record<string, string> }; namespaceSelector: { matchNames: string[] }; endpoints: { port: string; path: string }[] };
      expect(isSubset(spec.selector.matchLabels, service.metadata!.labels!), 'ServiceMonitor selects the Service').toBe(true);
      expect(spec.namespaceSelector.matchNames).toEqual(['te-ns']);
      expect(spec.endpoints[0]).toMatchObject({ port: service.spec.ports[0]!.name, path: '/metrics' });
    }
    // Every Secret and ConfigMap the pod mounts is rendered here or named in the values.
    for (const v of pod.volumes) {
      if (v.configMap && v.name === 'config') expect(objs.some((o) => o.kind === 'ConfigMap' && o.metadata?.name === v.configMap!.name)).toBe(true);
    }
  });
});

describe('the Helm chart examples', () => {
  it('show the local keyring, inline KMS keys and a KMS key config file, OIDC, IRSA, TLS and the optional objects', async () => {
    const seen = new Set<string>();
    for (const { args } of CASES.slice(1)) {
      const objs = await render(args);
      const { loaded } = containerConfig(objs, 'example');
      seen.add(loaded.keys.provider);
      if (loaded.keys.awsKms?.keys) seen.add('inline KMS keys');
      if (loaded.keys.awsKms?.keyConfigFile) seen.add('KMS key config');
      if (loaded.auth.jwt) seen.add('OIDC');
      if (loaded.server.tls) seen.add('TLS');
      if (loaded.auth.staticTokens.length) seen.add('static tokens');
      const sa = objs.find((o) => o.kind === 'ServiceAccount');
      if (sa?.metadata?.annotations?.['eks.amazonaws.com/role-arn']) seen.add('IRSA');
      for (const kind of ['HorizontalPodAutoscaler', 'ServiceMonitor', 'PodDisruptionBudget', 'NetworkPolicy']) if (objs.some((o) => o.kind === kind)) seen.add(kind);
      const env = only<Deployment>(objs, 'Deployment').spec.template.spec.containers[0]!.env ?? [];
      if (env.some((e) => e.name === 'TEMPORAL_ENVELOPE_SESSION_SECRET' && e.valueFrom?.secretKeyRef)) seen.add('session secret');
      // An override in extraEnv reaches the config the server sees.
      const level = env.find((e) => e.name === 'TEMPORAL_ENVELOPE_LOG_LEVEL')?.value;
      if (level) expect(loaded.log.level).toBe(level);
    }
    expect([...seen].sort()).toEqual(
      ['local', 'aws-kms', 'inline KMS keys', 'KMS key config', 'OIDC', 'TLS', 'static tokens', 'IRSA', 'HorizontalPodAutoscaler', 'ServiceMonitor', 'PodDisruptionBudget', 'NetworkPolicy', 'session secret'].sort(),
    );
  });

  it('the local keyring init container leaves a copy the server accepts, where the Secret file itself is refused', async () => {
    const init = only<Deployment>(await render([]), 'Deployment').spec.template.spec.initContainers!.find((c) => c.name === 'keyring')!;
    const dir = mkdtempSync(path.join(tmpdir(), 'te-helm-keyring-'));
    try {
      // As kubelet projects a Secret under fsGroup: group-readable, whatever defaultMode says.
      const secretFile = path.join(dir, 'secret', 'keyring.json');
      await writeKeyring(secretFile, newKeyringDocument());
      chmodSync(secretFile, 0o440);
      await expect(readKeyring(secretFile)).rejects.toThrow(/readable by other users/);
      const target = path.join(dir, 'keyring.json');
      const env = { PATH: process.env.PATH, KEYRING_SOURCE: secretFile, KEYRING_TARGET: target };
      expect(init.command![0]).toBe('sh');
      await exec(init.command![0]!, init.command!.slice(1), { env });
      expect(statSync(target).mode & 0o777).toBe(0o600);
      expect((await readKeyring(target)).keys.length).toBe(1);
      // The server reads the copy from where the init container wrote it.
      const { loaded } = containerConfig(await render([]), 'defaults');
      expect(init.env!.find((e) => e.name === 'KEYRING_TARGET')?.value).toBe(loaded.keys.local.path);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the Helm chart refuses wrong values, naming them', () => {
  const awsKms = (awsKms: object) => ({ keys: { provider: 'aws-kms', awsKms } });
  const cases: { what: string; values: object; message: RegExp }[] = [
    { what: 'aws-kms without keys', values: awsKms({ region: 'eu-west-1' }), message: /keys\.provider aws-kms needs its KMS keys/ },
    {
      what: 'aws-kms with keys in two places',
      values: awsKms({ region: 'eu-west-1', keys: [{ keyId: 'alias/a' }], keyConfig: { existingConfigMap: 'kms-keys' } }),
      message: /one place, got keys\.awsKms\.keys and keys\.awsKms\.keyConfig\.existingConfigMap/,
    },
    { what: 'aws-kms without a region', values: awsKms({ keys: [{ keyId: 'alias/a' }] }), message: /keys\.awsKms\.region is required/ },
    { what: 'a KMS key id that is none', values: awsKms({ region: 'eu-west-1', keys: [{ keyId: 'my key' }] }), message: /awsKms\/keys\/0\/keyId/ },
    { what: 'a key config of another format', values: awsKms({ region: 'eu-west-1', keyConfig: { document: { format: 'v0', keys: [] } } }), message: /keyConfig\/document/ },
    { what: 'an unknown provider', values: { keys: { provider: 'vault' } }, message: /keys\/provider/ },
    { what: 'TLS without its Secret', values: { server: { tls: { enabled: true } } }, message: /server\.tls\.enabled needs server\.tls\.existingSecret/ },
    { what: 'replicas without a shared session secret', values: { replicaCount: 3 }, message: /auth\.session\.existingSecret is required with up to 3 replicas/ },
    { what: 'an HPA without a shared session secret', values: { autoscaling: { enabled: true } }, message: /auth\.session\.existingSecret is required with up to 10 replicas/ },
    {
      what: 'a PDB no replica count satisfies',
      values: { replicaCount: 2, auth: { session: { existingSecret: 's' } }, podDisruptionBudget: { minAvailable: 2 } },
      message: /podDisruptionBudget\.minAvailable \(2\) must be below the replica count \(2\)/,
    },
    { what: 'a grace period shorter than the drain', values: { terminationGracePeriodSeconds: 20 }, message: /terminationGracePeriodSeconds \(20\) must exceed preStopSleepSeconds \+ server\.shutdownGraceMs \(25 s\)/ },
    { what: 'a CORS origin with a path', values: { cors: { origins: ['https://temporal.example.com/'] } }, message: /cors\/origins\/0/ },
    { what: 'a wildcard CORS origin', values: { cors: { origins: ['*'] } }, message: /cors\/origins\/0/ },
    { what: 'a token instead of its hash', values: { auth: { staticTokens: [{ principal: 'ci', sha256: 'te_secret_token' }] } }, message: /staticTokens\/0\/sha256/ },
    { what: 'half an OIDC set-up', values: { auth: { jwt: { issuer: 'https://idp.example.com/' } } }, message: /auth\/jwt.*(jwksUrl|audience)/s },
    { what: 'a policy rule for nobody', values: { policy: { rules: [{ namespaces: ['default'], actions: ['decode'] }] } }, message: /policy\/rules\/0/ },
    { what: 'a misspelt section', values: { polcy: { rules: [] } }, message: /polcy/ },
    { what: 'a misspelt server field', values: { server: { bodyLimit: 1 } }, message: /bodyLimit/ },
  ];

  it.each(cases)('$what', async ({ values, message }) => {
    const file = path.join(home, `bad-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, YAML.stringify(values));
    const error = await helmError(['template', 'te', CHART, '-f', file]);
    expect(error).toMatch(message);
  });
});

describe('values.schema.json and the server config schema', () => {
  // Where the chart passes a section through, its values schema must accept exactly the server's fields.
  const serverSchema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const valuesSchema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')) as JsonSchema;
  interface JsonSchema {
    properties?: Record<string, JsonSchema>;
    items?: JsonSchema;
  }
  const at = (s: JsonSchema, p: string[]): JsonSchema => p.reduce((n, k) => (k === '[]' ? n.items! : n.properties![k]!), s);
  const fields = (s: JsonSchema, p: string[]) => Object.keys(at(s, p).properties ?? {}).sort();

  it.each(['auth.jwt', 'auth.staticTokens.[]', 'policy', 'policy.rules.[]', 'cors', 'codec', 'codec.cache', 'rateLimit', 'log'])('%s: the same fields', (dotted) => {
    const p = dotted.split('.');
    expect(fields(valuesSchema, p)).toEqual(fields(serverSchema, p));
  });

  it('server: the same fields but host and tls, which the chart sets itself', () => {
    expect(fields(valuesSchema, ['server']).filter((f) => f !== 'tls')).toEqual(fields(serverSchema, ['server']).filter((f) => !['host', 'tls'].includes(f)));
  });
});
