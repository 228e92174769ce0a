import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.js';
import { captureIo } from './cli-support/capture-io.js';

/**
 * A human reading an error sees the same stable code a script gets from --json, so the line can be
 * searched in the docs and matched to the server's log: `temporal-envelope: error CODE: message`.
 * And every command that takes a workflow id takes it as --workflow-id (the temporal CLI's
 * spelling), with --workflow accepted for scripts written against keys shred's old flag.
 */
describe('CLI error lines', () => {
  it('name the stable code of a library error', async () => {
    const io = captureIo();
    const missing = path.join(mkdtempSync(path.join(tmpdir(), 'te-cli-err-')), 'none.json');
    const code = await runCli(['keys', 'list', '--keyring', missing], io);
    expect(code).toBe(1);
    expect(io.err()).toMatch(/^temporal-envelope: error KEYRING_ERROR: .*none\.json/);
  });

  it('name USAGE for our own usage errors and for the parser\'s', async () => {
    const ours = captureIo();
    expect(await runCli(['keys', 'shred', '--workflow-id', 'w'], ours)).toBe(2);
    expect(ours.err()).toMatch(/^temporal-envelope: error USAGE: --shred-store <location>/);
    const parser = captureIo();
    expect(await runCli(['keys', 'list', '--frobnicate'], parser)).toBe(2);
    expect(parser.err()).toMatch(/^temporal-envelope: error USAGE: unknown option '--frobnicate'/);
  });
});

describe('--workflow-id everywhere', () => {
  it('is the documented spelling of keys shred, encode and decode', async () => {
    for (const cmd of [['keys', 'shred'], ['encode'], ['decode']]) {
      const io = captureIo();
      await runCli([...cmd, '--help'], io);
      expect(io.out()).toContain('-w, --workflow-id <id>');
      expect(io.out()).not.toMatch(/--workflow </);
    }
  });

  it('accepts --workflow as the same option, and refuses the two disagreeing', async () => {
    const keyring = path.join(mkdtempSync(path.join(tmpdir(), 'te-cli-wf-')), 'keyring.json');
    expect(await runCli(['keys', 'init', '--keyring', keyring], captureIo())).toBe(0);
    const input = JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"hi"').toString('base64') }] });
    const encode = (...args: string[]) => runWithInput(['encode', '--keyring', keyring, ...args], input);
    const sealedFor = (out: string) => {
      const meta = (JSON.parse(out) as { payloads: { metadata: Record<string, string> }[] }).payloads[0]!.metadata;
      return Buffer.from(meta['envelope-workflow-id']!, 'base64').toString();
    };
    const viaAlias = await encode('--workflow', 'order-1');
    expect(viaAlias.code).toBe(0);
    expect(sealedFor(viaAlias.out)).toBe('order-1');
    expect(sealedFor((await encode('--workflow-id', 'order-1')).out)).toBe('order-1');
    const both = await encode('--workflow-id', 'order-1', '--workflow', 'order-2');
    expect(both.code).toBe(2);
    expect(both.err).toContain('--workflow-id "order-1" and --workflow "order-2" disagree');
  });
});

async function runWithInput(args: string[], stdin: string) {
  const io = captureIo();
  const input = new PassThrough();
  input.end(stdin);
  const code = await runCli(args, { ...io, stdin: input });
  return { code, out: io.out(), err: io.err() };
}
