import { spawn } from 'node:child_process';

/**
 * A long-running program the test starts (a Go or Python worker), its output kept for failure
 * messages, ready once a line matches `ready`, stopped with SIGTERM (SIGKILL after 10 s). Started
 * without the developer's TEMPORAL_* environment, as runCli does.
 */
export interface Program {
  readonly name: string;
  /** Everything it printed so far (capped), stdout and stderr interleaved. */
  output(): string;
  running(): boolean;
  stop(): Promise<void>;
}

/** This process's environment without the developer's TEMPORAL_* settings, plus `extra`. */
export function programEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_')) delete env[k];
  return Object.assign(env, extra);
}

export async function startProgram(
  name: string,
  command: string,
  args: readonly string[],
  options: { ready: RegExp; cwd?: string; env?: NodeJS.ProcessEnv; readyTimeoutMs?: number },
): Promise<Program> {
  const child = spawn(command, args, { cwd: options.cwd, env: programEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let isReady = false;
  let onReady: () => void = () => {};
  const keep = (d: Buffer) => {
    if (out.length < 200_000) out += d.toString();
    if (!isReady && options.ready.test(out)) {
      isReady = true;
      onReady();
    }
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    });
    child.once('error', (err) => {
      out += `\n[${name}] ${err.message}`;
      exit ??= { code: null, signal: null };
      resolve();
    });
  });
  const stop = async () => {
    if (exit === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };
  const timeoutMs = options.readyTimeoutMs ?? 90_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    new Promise<'ready'>((resolve) => {
      onReady = () => resolve('ready');
      if (isReady) resolve('ready');
    }),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ready') {
    await stop();
    throw new Error(`${name} ${outcome === 'exited' ? `exited (${exit?.code ?? exit?.signal})` : `not ready within ${timeoutMs} ms`} before printing ${options.ready}:\n${out}`);
  }
  return { name, output: () => out, running: () => exit === undefined, stop };
}
