import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import YAML from 'yaml';
import { sha256Hex } from '../../config/token-hash.js';
import { printJson, printLine, warn, type CliIo } from '../io.js';
import { parseNonEmpty } from '../parse.js';

/**
 * `tokens new`: a static API token for the codec server. The token is printed once; the config
 * keeps only its SHA-256 (auth.staticTokens), so operators never hash by hand and a leaked config
 * leaks no token.
 */
export function registerTokens(program: Command, io: CliIo): void {
  const tokens = program.command('tokens').description('static API tokens for the codec server (auth.staticTokens)');
  tokens
    .command('new')
    .description('make a random token; print it once, with the config entry that stores only its hash')
    .requiredOption('--principal <name>', 'who the token is, for policy rules and the audit log', parseNonEmpty)
    .option('--group <group>', 'a group for policy rules (repeatable)', (v: string, all: string[]) => [...all, parseNonEmpty(v)], [] as string[])
    .option('--json', 'one JSON document on stdout')
    .action((opts: { principal: string; group: string[]; json?: boolean }) => {
      const token = `te_${randomBytes(32).toString('base64url')}`;
      const entry = { principal: opts.principal, sha256: `sha256:${sha256Hex(token)}`, groups: opts.group };
      if (opts.json) {
        printJson(io, { token, entry });
        return;
      }
      printLine(io, `token: ${token}`);
      printLine(io, '');
      printLine(io, '# add to the codec server config under auth.staticTokens:');
      printLine(io, YAML.stringify([entry]).trimEnd());
      warn(io, 'the token is shown only now; store it in your secret manager (the config keeps only its hash)');
    });
}
