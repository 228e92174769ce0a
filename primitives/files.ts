import { randomBytes } from 'node:crypto';
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The two things key files need from the filesystem: a write no reader can see half of, and a
 * watch that notices when another process replaced the file.
 */

export interface AtomicWriteOptions {
  /** Create the file only if it does not exist; resolve false, writing nothing, when it does. Default false: replace. */
  exclusive?: boolean;
}

/**
 * Write `data` to `file` so that a reader sees the old content or the new, never part of it, and a
 * crash after this resolves loses neither. The bytes go to a temporary file beside it (mode 0600,
 * created exclusively), are fsync'd, then renamed over the name (or, with `exclusive`, linked to
 * it: link(2) refuses an existing name, so two processes creating the file at once agree on one);
 * the directory is fsync'd so the new name is on disk too. Missing parent directories are created
 * with mode 0700. Every file we write holds keys, secrets, key choices or evidence: 0600 always.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<boolean> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  let written = true;
  try {
    if (options.exclusive) {
      try {
        await fs.link(tmp, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        written = false;
      }
      await fs.rm(tmp, { force: true });
    } else {
      await fs.rename(tmp, file);
    }
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  if (written) await syncDirectory(dir);
  return written;
}

async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Some platforms cannot open or sync a directory (Windows); the rename itself is still atomic.
  } finally {
    await handle?.close();
  }
}

/** Whether anything is at `file` (permissions aside). */
export async function pathExists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

export interface FileWatch {
  close(): void;
}

export interface WatchFileOptions {
  intervalMs: number;
  /** Told when `onChange` fails; the same change is offered again on the next tick. */
  onError?: (err: Error) => void;
}

/**
 * Call `onChange` whenever `file` differs (modification time, size, inode, mode and type, or being
 * there at all) from the state that `onChange` last handled without failing. The mode is part of
 * it because chmod changes no modification time: a keyring opened up to other users must be
 * noticed on the next tick, not at the next rotation. Polls on an unref'd interval, so
 * it never keeps a process alive: polling works alike on every filesystem, shared and container
 * volumes included, where change events are unreliable, and sees a rename-over as one change. The
 * starting state is read now, synchronously, so a change made right after this call is not
 * missed. One `onChange` runs at a time.
 */
export function watchFile(file: string, onChange: () => void | Promise<void>, options: WatchFileOptions): FileWatch {
  let handled = signature(file);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    const now = signature(file);
    if (now === handled) return;
    busy = true;
    Promise.resolve()
      .then(onChange)
      .then(
        () => {
          handled = now;
        },
        (err: unknown) => options.onError?.(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => {
        busy = false;
      });
  }, options.intervalMs);
  timer.unref();
  return { close: () => clearInterval(timer) };
}

function signature(file: string): string {
  try {
    const s = statSync(file);
    return `${s.mtimeMs}:${s.size}:${s.ino}:${s.mode}`;
  } catch {
    return 'absent';
  }
}
