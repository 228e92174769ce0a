import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { captureIo } from './cli-support/capture-io.js';
import { buildProgram } from '../src/cli/program.js';
import { runCli as runInProcess } from '../src/cli/run.js';
import { runCli } from './cli-support/run-cli.js';

/**
 * Every command answers --help with exit 0 and its own usage. The command list comes from the
 * program itself, so a command added later is covered without touching this test. In-process:
 * ~15 subprocesses would only measure node start-up; one subprocess run checks the real binary.
 */

function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.filter((c) => c.name() !== 'help').flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

const paths = commandPaths(buildProgram(captureIo()));

describe('--help', () => {
  it('covers the documented commands', () => {
    expect(paths.map((p) => p.join(' '))).toEqual(
      expect.arrayContaining(['serve', 'keys', 'keys init', 'keys list', 'keys show', 'keys rotate', 'keys retire', 'keys usage', 'keys shred', 'encode', 'decode']),
    );
  });

  it.each([[], ...paths])('temporal-envelope %s --help exits 0 with its usage', async (...path: string[]) => {
    const io = captureIo();
    const code = await runInProcess([...path, '--help'], io);
    expect(code).toBe(0);
    expect(io.out()).toContain(`Usage: temporal-envelope${path.length > 0 ? ` ${path.join(' ')}` : ''}`);
    expect(io.err()).toBe('');
  });

  it('lists the exit codes at the top level', async () => {
    const io = captureIo();
    await runInProcess(['--help'], io);
    expect(io.out()).toMatch(/Exit codes:\n\s+0\s+success\n\s+1 .*\n\s+2 .*usage.*\n\s+3 .*key.*\n\s+4 .*unavailable/);
  });

  it('works as a real process too, and an unknown command is a usage error', async () => {
    const r = await runCli(['keys', 'usage', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--tls-cert-path <path>');
    expect(r.stdout).toContain('--api-key <key>');
    const bad = await runCli(['keys', 'rotat']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown command 'rotat'");
    expect(bad.stderr).toContain('(Did you mean rotate?)');
  });
});
