import { CommanderError } from 'commander';
import { EXIT, errorCodeFor, exitCodeFor } from './exit-codes.js';
import { processIo, type CliIo } from './io.js';
import { buildProgram } from './program.js';

/**
 * Parse and run one command line; returns the exit code. Every error is caught here and printed
 * once: `temporal-envelope: error CODE: message` (messages never carry plaintext or key bytes),
 * or with --json a JSON object on stderr. Stack traces only with TEMPORAL_ENVELOPE_DEBUG=1.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const json = argv.includes('--json');
  const program = buildProgram(io, { jsonErrors: json });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end parsing with exit code 0; every other commander error is a usage error
      // it has already printed.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const code = exitCodeFor(err);
    const message = err instanceof Error ? err.message : String(err);
    if (json) {
      io.stderr.write(`${JSON.stringify({ error: { code: errorCodeFor(err), message, exitCode: code } })}\n`);
    } else {
      // The stable code, as --json gives it, so a human can search the docs and a log line for it.
      io.stderr.write(`temporal-envelope: error ${errorCodeFor(err)}: ${message}\n`);
      if (code === EXIT.USAGE) io.stderr.write('Run with --help for usage.\n');
    }
    if (io.env.TEMPORAL_ENVELOPE_DEBUG === '1' && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return code;
  }
}
