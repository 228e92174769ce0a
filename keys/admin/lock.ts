import { promises as fs } from 'node:fs';
import { KeyringError } from '../../primitives/errors.js';

/**
 * One key-management operation at a time per key file: a lock file beside it, created with O_EXCL.
 * Rotations and retirements are read-modify-write; the atomic rename of the new file alone would
 * keep the file whole but let the later writer drop the earlier one's change.
 */
const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 10_000;

export async function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await fs.open(lock, 'wx', 0o600);
      await handle.writeFile(`${process.pid} ${new Date().toISOString()}\n`);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new KeyringError(`lock ${lock} cannot be created: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
      }
      // A process that died holding the lock must not block key management for ever.
      const stat = await fs.stat(lock).catch(() => undefined);
      if (stat !== undefined && Date.now() - stat.mtimeMs > LOCK_STALE_MS) {
        await fs.rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new KeyringError(`${file} is locked by another temporal-envelope process (${lock}); try again, or remove the lock file if no such process runs`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}
