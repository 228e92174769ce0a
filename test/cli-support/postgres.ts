import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loopbackPort } from './temporal-dev.js';

/**
 * A throwaway PostgreSQL cluster from Debian's `postgresql` package (scripts/setup-test-deps.mjs
 * installs it): initdb into a temporary directory, the server on a free loopback port with its
 * socket in that directory, stopped and deleted by `destroy()`. `stop()` and `start()` take it down
 * and bring it back with its data, for outage tests. A missing package is an error, never a skip.
 *
 * PostgreSQL refuses to run as root, and CI runs as root: there the cluster belongs to the
 * `postgres` system user the package creates (its directory chowned to it, every command through
 * `runuser -u postgres --`). As any other user it simply runs as that user.
 */
const run = promisify(execFile);

export interface Postgres {
  /** postgres://<superuser>:<password>@127.0.0.1:<port>/postgres */
  readonly adminUrl: string;
  readonly port: number;
  /** The same server as another user and database: `url({ user, password, database })`. */
  url(options: { user: string; password: string; database?: string }): string;
  /** Take the server down (fast shutdown: open connections are cut), keeping its data. */
  stop(): Promise<void>;
  /** Bring it back on the same port with the same data. */
  start(): Promise<void>;
  /** Stop it and delete the cluster. */
  destroy(): Promise<void>;
}

/** The newest server in Debian's layout (/usr/lib/postgresql/<major>/bin), or TEMPORAL_ENVELOPE_TEST_PG_BIN. */
export function postgresBinDir(): string {
  const fromEnv = process.env.TEMPORAL_ENVELOPE_TEST_PG_BIN;
  if (fromEnv) return fromEnv;
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0) {
    throw new Error(`PostgreSQL server binaries not found under ${root}/<version>/bin: run "node scripts/setup-test-deps.mjs" (npm test runs it as pretest; it installs Debian's postgresql)`);
  }
  return path.join(root, majors[0]!, 'bin');
}

export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBinDir();
  const asRoot = process.getuid?.() === 0;
  let owner: { uid: number; gid: number } | undefined;
  if (asRoot) {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]).catch(() => {
      throw new Error('running as root, PostgreSQL needs the "postgres" system user that Debian\'s postgresql package creates: run "node scripts/setup-test-deps.mjs"');
    });
    owner = { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'te-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwFile = path.join(dir, 'pw');
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(pwFile, owner.uid, owner.gid);
  }
  const pg = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args], { cwd: dir }) : run(path.join(bin, tool), args, { cwd: dir });
  const port = await loopbackPort();
  const superuser = 'te_admin';
  try {
    await pg('initdb', ['-D', data, '-U', superuser, `--pwfile=${pwFile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-instructions']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
  rmSync(pwFile);
  // Loopback TCP only (the tests connect as the runtime would), the socket in our own directory,
  // and durability off: a throwaway cluster need not survive a power cut, and fsync is slow.
  const options = `-p ${port} -h 127.0.0.1 -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  const start = async () => {
    try {
      await pg('pg_ctl', ['-D', data, '-l', logFile, '-o', options, '-w', '-t', '60', 'start']);
    } catch (err) {
      throw new Error(`PostgreSQL did not start: ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
  };
  const stop = async () => {
    await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']).catch((err: { stderr?: string }) => {
      // Already stopped is fine; anything else is worth seeing.
      if (!/Is server running\?/.test(err.stderr ?? '')) throw err;
    });
  };
  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = (o: { user: string; password: string; database?: string }) =>
    `postgres://${encodeURIComponent(o.user)}:${encodeURIComponent(o.password)}@127.0.0.1:${port}/${encodeURIComponent(o.database ?? 'postgres')}`;
  return {
    adminUrl: url({ user: superuser, password }),
    port,
    url,
    stop,
    start,
    destroy: async () => {
      try {
        await stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
