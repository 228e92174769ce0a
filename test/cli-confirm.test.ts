import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileScopeSecretStore } from '../keys/shred-store.js';
import { makeScope } from '../primitives/scope.js';
import type { CliIo } from '../src/cli/io.js';
import { runCli } from '../src/cli/run.js';

/**
 * The interactive confirmation of irreversible steps, with stdin posing as a terminal (a real
 * subprocess has no terminal in CI; the non-terminal path is tested there, in shred.test.ts).
 */

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'te-cli-confirm-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function ttyIo(answer: string): CliIo & { err(): string } {
  const stdin = Object.assign(new PassThrough(), { isTTY: true });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let err = '';
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  stdout.resume();
  // Answer once the question has been asked.
  stderr.once('data', () => stdin.write(`${answer}\n`));
  return { stdin, stdout, stderr, env: {}, cwd: dir, err: () => err };
}

describe('confirmation prompt on a terminal', () => {
  it('aborts on a wrong answer (exit 1, nothing changed) and proceeds on the exact workflow id', async () => {
    const storeDir = path.join(dir, 'store');
    const store = new FileScopeSecretStore(storeDir);
    const scope = makeScope('default', 'wf-confirm');
    await store.getOrCreate(scope);

    const wrong = ttyIo('yes');
    expect(await runCli(['keys', 'shred', '--workflow', 'wf-confirm', '--shred-store', storeDir], wrong)).toBe(1);
    expect(wrong.err()).toContain('Type "wf-confirm" to confirm');
    expect(wrong.err()).toContain('not confirmed; nothing was changed');
    expect((await store.status(scope)).state).toBe('active');

    const right = ttyIo('wf-confirm');
    expect(await runCli(['keys', 'shred', '--workflow', 'wf-confirm', '--shred-store', storeDir], right)).toBe(0);
    expect((await store.status(scope)).state).toBe('shredded');
  });
});
