import { PassThrough } from 'node:stream';
import type { CliIo } from '../../src/cli/io.js';

/** CLI streams in memory, for running commands in-process (no subprocess start-up per case). */
export function captureIo(env: NodeJS.ProcessEnv = {}): CliIo & { out(): string; err(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const stdin = new PassThrough();
  stdin.end();
  return { stdout, stderr, stdin, env, cwd: process.cwd(), out: () => out, err: () => err };
}
