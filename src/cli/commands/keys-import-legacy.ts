import { promises as fs } from 'node:fs';
import { Option, type Command } from 'commander';
import { importLegacyKey } from '../../../keys/admin/legacy-keys.js';
import { UsageError } from '../errors.js';
import { printJson, printLine, type CliIo } from '../io.js';
import { legacyKeyInfo, legacyKeysPathOf } from '../key-info.js';
import { addJsonOption, addKeySourceOptions, keySourceFrom } from '../options.js';
import { parseNonEmpty } from '../parse.js';

type Encoding = 'raw' | 'base64' | 'hex';

/**
 * `keys import-legacy`: take the key a team configured in Temporal's samples encryption codec into
 * the legacy key file, decrypt-only, so payloads it sealed keep opening. The material is read from
 * a file, an environment variable or stdin (never the command line, which shells and `ps` keep) and
 * never printed.
 */
export function registerKeysImportLegacy(keys: Command, io: CliIo): void {
  const cmd = keys
    .command('import-legacy')
    .description("import a Temporal samples-codec key (AES-256-GCM, 32 bytes) as a decrypt-only legacy key")
    .requiredOption('--id <key-id>', 'exactly the encryption-key-id the samples codec wrote into payloads', parseNonEmpty)
    .option('--material-file <file>', 'read the key from this file')
    .option('--material-env <var>', 'read the key from this environment variable')
    .option('--material-stdin', 'read the key from stdin')
    .addOption(
      new Option('--material-encoding <encoding>', 'how the key is written: the 32 bytes themselves (the samples hard-code a 32-character string), or base64/hex of them')
        .choices(['raw', 'base64', 'hex'])
        .default('raw'),
    )
    .addHelpText(
      'after',
      '\nExample (the samples hard-code their key as a 32-character string):\n' +
        '  printf %s "$SAMPLES_KEY" | temporal-envelope keys import-legacy --id my-key-id --material-stdin\n' +
        '\nThe legacy key file is --legacy-keys (default ~/.temporal-envelope/legacy-keys.json), mode 0600.',
    );
  addJsonOption(addKeySourceOptions(cmd, { shredStore: false })).action(async (opts: Record<string, unknown>) => {
    const source = keySourceFrom(opts);
    const given = (['materialFile', 'materialEnv', 'materialStdin'] as const).filter((k) => opts[k] !== undefined);
    if (given.length !== 1) throw new UsageError('give the key with exactly one of --material-file, --material-env, --material-stdin');
    const encoding = opts.materialEncoding as Encoding;
    let raw: Uint8Array;
    let where: string;
    if (opts.materialFile !== undefined) {
      where = `--material-file ${opts.materialFile as string}`;
      try {
        raw = await fs.readFile(opts.materialFile as string);
      } catch (err) {
        throw new UsageError(`${where} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    } else if (opts.materialEnv !== undefined) {
      where = `--material-env ${opts.materialEnv as string}`;
      const value = io.env[opts.materialEnv as string];
      if (value === undefined || value === '') throw new UsageError(`${where}: the variable is not set`);
      raw = Buffer.from(value, 'utf8');
    } else {
      where = '--material-stdin';
      if (io.stdin.isTTY === true) throw new UsageError('--material-stdin: stdin is a terminal; pipe the key in');
      const chunks: Buffer[] = [];
      for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
      raw = Buffer.concat(chunks);
    }
    const material = decodeMaterial(raw, encoding, where);
    const file = legacyKeysPathOf(source);
    try {
      const entry = await importLegacyKey(file, opts.id as string, material);
      if (opts.json) printJson(io, { legacyKeys: file, key: legacyKeyInfo(entry, false) });
      else {
        printLine(io, `Imported legacy key ${JSON.stringify(entry.id)} (${entry.kind}, decrypt-only) into ${file} (mode 0600).`);
        printLine(io, 'Give workers, codec servers and CLI commands this file (--legacy-keys, TEMPORAL_ENVELOPE_LEGACY_KEYS, keys.legacyKeys.path): they then open the samples codec\'s payloads and seal new ones in the envelope.');
      }
    } finally {
      material.fill(0);
      if (raw instanceof Buffer) raw.fill(0);
    }
  });
}

/** The 32 key bytes; messages give lengths only, never the bytes. */
function decodeMaterial(raw: Uint8Array, encoding: Encoding, where: string): Uint8Array {
  let out: Uint8Array;
  if (encoding === 'raw') {
    out = raw;
    // An editor or `echo` adds a line end; strip it only when that leaves exactly a key.
    for (const end of ['\n', '\r\n']) {
      if (raw.length === 32 + end.length && Buffer.from(raw.subarray(32)).toString('latin1') === end) out = raw.subarray(0, 32);
    }
    out = Uint8Array.from(out);
  } else {
    const text = Buffer.from(raw).toString('utf8').trim();
    const valid = encoding === 'hex' ? /^(?:[0-9a-fA-F]{2})*$/.test(text) : /^[A-Za-z0-9+/]*={0,2}$/.test(text);
    if (!valid) throw new UsageError(`${where}: not valid ${encoding}`);
    out = Uint8Array.from(Buffer.from(text, encoding));
  }
  if (out.length !== 32) {
    out.fill(0);
    throw new UsageError(`${where}: an AES-256 key is 32 bytes, got ${out.length} (--material-encoding ${encoding})`);
  }
  return out;
}
