import { createRequire } from 'node:module';
import { Command } from 'commander';
import { registerCodecIo } from './commands/codec-io.js';
import { registerKeys } from './commands/keys.js';
import { registerServe } from './commands/serve.js';
import { registerTokens } from './commands/tokens.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  the operation failed or was refused (see the message)
  2  usage error: bad arguments, options or input
  3  key or crypto error: unknown/retired/shredded key, tampered payload, wrong scope, KMS access denied
  4  temporarily unavailable (KMS or the shred store down or throttling): retrying later may succeed

Environment: TEMPORAL_ENVELOPE_KEYRING, TEMPORAL_ENVELOPE_PROVIDER, TEMPORAL_ENVELOPE_KEY_CONFIG,
TEMPORAL_ENVELOPE_KMS_ENDPOINT, TEMPORAL_ENVELOPE_SHRED_STORE, TEMPORAL_ENVELOPE_LEGACY_KEYS, AWS_REGION, and the temporal CLI's TEMPORAL_* variables.
Docs: docs/key-management.md`;

export function buildProgram(io: CliIo, options: { jsonErrors?: boolean } = {}): Command {
  const program = new Command('temporal-envelope');
  program
    .description('Envelope encryption for Temporal payloads: codec server, key management, encode/decode.')
    .version(packageVersion(), '-V, --version')
    // Settings made before .command() are inherited by every subcommand.
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // With --json a script reads errors as JSON too, commander's parse errors included; without,
      // they read like every other error: prefix, stable code, message.
      outputError: (s, write) =>
        write(
          options.jsonErrors
            ? `${JSON.stringify({ error: { code: 'USAGE', message: s.replace(/^error: /, '').trim(), exitCode: EXIT.USAGE } })}\n`
            : `temporal-envelope: ${s.replace(/^error: /, 'error USAGE: ')}`,
        ),
    })
    .addHelpText('after', EXIT_CODES_HELP);
  registerServe(program, io);
  registerKeys(program, io);
  registerCodecIo(program, io);
  registerTokens(program, io);
  return program;
}

function packageVersion(): string {
  // src/cli/ from source, dist/src/cli/ when built: the package root is 2 or 3 levels up.
  const require = createRequire(import.meta.url);
  const candidates = [() => require('../../package.json') as unknown, () => require('../../../package.json') as unknown];
  for (const read of candidates) {
    try {
      const pkg = read() as { name?: string; version?: string };
      if (pkg.name === 'temporal-envelope' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next level
    }
  }
  return '0.0.0';
}
