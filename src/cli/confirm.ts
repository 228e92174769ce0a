import { createInterface } from 'node:readline/promises';
import { OperationError, UsageError } from './errors.js';
import type { CliIo } from './io.js';

/**
 * Ask before an irreversible step. Never prompts when stdin is not a terminal (CI, scripts, pipes):
 * there the explicit flag is the only way, so a script cannot hang waiting for an answer.
 */
export async function confirmIrreversible(
  io: CliIo,
  options: { yes: boolean; action: string; typeToConfirm: string; flag?: string },
): Promise<void> {
  if (options.yes) return;
  const flag = options.flag ?? '--yes';
  if (io.stdin.isTTY !== true) {
    throw new UsageError(`${options.action} cannot be undone; pass ${flag} to confirm (stdin is not a terminal, so there is no prompt)`);
  }
  const rl = createInterface({ input: io.stdin, output: io.stderr });
  try {
    const answer = await rl.question(`${options.action} cannot be undone. Type ${JSON.stringify(options.typeToConfirm)} to confirm: `);
    if (answer.trim() !== options.typeToConfirm) throw new OperationError('ABORTED', 'not confirmed; nothing was changed');
  } finally {
    rl.close();
  }
}
