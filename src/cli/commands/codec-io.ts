import { promises as fs } from 'node:fs';
import type { Payload } from '@temporalio/common';
import type { Command } from 'commander';
import { EnvelopeCodec } from '../../../codecs/envelope-codec.js';
import { UnknownKeyError, isEnvelopeError } from '../../../primitives/errors.js';
import { writeFileAtomic } from '../../../primitives/files.js';
import { SHRED_KEY_PREFIX, isShreddableKeyId } from '../../../keys/shreddable-provider.js';
import { payloadsFromJson, payloadsToJson } from '../../../codecs/payload-json.js';
import { makeScope } from '../../../primitives/scope.js';
import { UsageError } from '../errors.js';
import type { CliIo } from '../io.js';
import type { KeyHierarchy } from '../../../primitives/branch-key.js';
import { addKeyHierarchyOption, addKeySourceOptions, addWorkflowIdOption, keySourceFrom, workflowIdFrom } from '../options.js';
import { parseNonEmpty } from '../parse.js';
import { openKeyProvider } from '../providers.js';

const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/**
 * `encode` / `decode`: run payloads through the codec from a terminal or script, in the codec
 * server's JSON shape (`{"payloads":[{"metadata":{…base64},"data":"…base64"}]}`). For debugging and
 * for moving data in and out; decoded output is plaintext, so it goes only where --out or stdout
 * points, and is never logged.
 */
export function registerCodecIo(program: Command, io: CliIo): void {
  for (const direction of ['encode', 'decode'] as const) {
    const cmd = program
      .command(direction)
      .description(
        direction === 'encode'
          ? 'seal payloads (JSON on stdin or --in) for a namespace/workflow scope and print the sealed JSON'
          : 'open sealed payloads (JSON on stdin or --in) and print the plaintext payload JSON',
      )
      .option('--json', 'errors as JSON on stderr (the output is JSON anyway)')
      .option('--in <file>', 'read the payload JSON from this file instead of stdin')
      .option('--out <file>', 'write the result to this file (mode 0600) instead of stdout')
      .option('-n, --namespace <namespace>', direction === 'encode' ? 'namespace to seal for (default "default")' : 'require payloads sealed for this namespace', parseNonEmpty)
      .addHelpText('after', `\nExample:\n  echo '{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"IkhpIg=="}]}' | temporal-envelope ${direction === 'encode' ? 'encode --workflow-id order-1' : 'decode --in sealed.json'}`);
    addWorkflowIdOption(cmd, direction === 'encode' ? 'workflow to seal for (omit for a namespace-scoped payload)' : 'require payloads sealed for this workflow');
    addKeyHierarchyOption(addKeySourceOptions(cmd), direction === 'encode' ? 'encode' : 'this command (decode reads both formats regardless)').action(async (opts: Record<string, unknown>) => {
      const source = keySourceFrom(opts);
      const namespace = opts.namespace as string | undefined;
      const workflowId = workflowIdFrom(opts);
      if (direction === 'decode' && workflowId !== undefined && namespace === undefined) {
        throw new UsageError('--workflow-id needs --namespace when decoding (the scope to check payloads against)');
      }
      const payloads = parseInput(await readInput(io, opts.in as string | undefined), (opts.in as string | undefined) ?? 'stdin');
      const provider = await openKeyProvider(source);
      try {
        const keyHierarchy = opts.keyHierarchy as KeyHierarchy | undefined;
        const codec = new EnvelopeCodec({ keyProviders: provider, defaultNamespace: namespace ?? 'default', ...(keyHierarchy === undefined ? {} : { keyHierarchy }) });
        const out = direction === 'encode' ? await codec.encodeInScope(payloads, makeScope(namespace ?? 'default', workflowId)) : await decodeAll(codec, payloads, namespace, workflowId, source.shredStore !== undefined);
        await writeOutput(io, opts.out as string | undefined, `${JSON.stringify(payloadsToJson(out), null, 2)}\n`);
      } finally {
        await provider.close?.();
      }
    });
  }
}

/** Every payload opened, or the first failure; a "shred:" key id opens only with the shred store, so say so. */
async function decodeAll(codec: EnvelopeCodec, payloads: Payload[], namespace: string | undefined, workflowId: string | undefined, hasShredStore: boolean): Promise<Payload[]> {
  const results = await codec.decodeDetailed(payloads, { passThroughUnopenable: true, ...(namespace === undefined ? {} : { expectedScope: makeScope(namespace, workflowId) }) });
  const failed = results.find((r) => r.status === 'failed');
  if (failed !== undefined) {
    const { error, keyId } = failed;
    if (!hasShredStore && isEnvelopeError(error) && error.code === 'UNKNOWN_KEY' && keyId !== undefined && isShreddableKeyId(keyId)) {
      throw new UnknownKeyError(`${error.message}; payloads with "${SHRED_KEY_PREFIX}" key ids also need --shred-store (or TEMPORAL_ENVELOPE_SHRED_STORE)`, { cause: error });
    }
    throw error;
  }
  return results.map((r) => r.payload);
}

async function readInput(io: CliIo, file: string | undefined): Promise<string> {
  if (file !== undefined) {
    let stat;
    try {
      stat = await fs.stat(file);
    } catch (err) {
      throw new UsageError(`--in ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (stat.size > MAX_INPUT_BYTES) throw new UsageError(`--in ${file} is larger than ${MAX_INPUT_BYTES} bytes`);
    return fs.readFile(file, 'utf8');
  }
  if (io.stdin.isTTY === true) throw new UsageError('no input: pipe payload JSON on stdin or pass --in <file>');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_INPUT_BYTES) throw new UsageError(`stdin is larger than ${MAX_INPUT_BYTES} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseInput(text: string, where: string) {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`${where} is not valid JSON (expected {"payloads":[…]})`);
  }
  try {
    return payloadsFromJson(json);
  } catch (err) {
    // The input file is the user's argument: a malformed one is a usage error, not a key error.
    if (isEnvelopeError(err) && err.code === 'MALFORMED_PAYLOAD') throw new UsageError(`${where}: ${err.message}`);
    throw err;
  }
}

async function writeOutput(io: CliIo, file: string | undefined, text: string): Promise<void> {
  if (file === undefined) {
    io.stdout.write(text);
    return;
  }
  await writeFileAtomic(file, text);
}
