import { Option, type Command } from 'commander';
import type { KeyHierarchy } from '../../../primitives/branch-key.js';
import { printLine, type CliIo } from '../io.js';
import { addKeyHierarchyOption } from '../options.js';
import { parseNonEmpty, parsePort } from '../parse.js';

/** `serve`: run the codec server. Loaded lazily so `keys …` never pays for fastify. */
export function registerServe(program: Command, io: CliIo): void {
  const cmd = program
    .command('serve')
    .description('run the codec server the Temporal UI and CLI decode through (stops on SIGTERM/SIGINT)')
    .addOption(new Option('-c, --config <file>', 'server config file (YAML or JSON)').env('TEMPORAL_ENVELOPE_CONFIG').argParser(parseNonEmpty))
    .addOption(new Option('--host <host>', 'address to listen on (overrides the config)').argParser(parseNonEmpty))
    .addOption(new Option('--port <port>', 'port to listen on (overrides the config)').argParser(parsePort))
    .addOption(
      new Option('--workers <n>', 'processes serving the port: a number, or "auto" for one per core (default 1; see docs/performance.md)').env('TEMPORAL_ENVELOPE_WORKERS').default('1'),
    );
  addKeyHierarchyOption(cmd, "the server's /encode (overrides codec.keyHierarchy)").action(
    async (opts: { config?: string; host?: string; port?: number; workers: string; keyHierarchy?: KeyHierarchy }) => {
      const { serve, serveClustered, parseWorkers } = await import('../../server/index.js');
      const { default: cluster } = await import('node:cluster');
      const workers = parseWorkers(opts.workers);
      // The primary forks the workers and serves nothing; each worker runs this same command and
      // lands in serve() below.
      if (workers > 1 && cluster.isPrimary) {
        const primary = await serveClustered({
          ...(opts.config === undefined ? {} : { configPath: opts.config }),
          ...(opts.host === undefined ? {} : { host: opts.host }),
          ...(opts.port === undefined ? {} : { port: opts.port }),
          env: io.env,
          workers,
        });
        printLine(io, `temporal-envelope codec server listening on ${primary.url} (${workers} workers)`);
        return;
      }
      const server = await serve({
        ...(opts.config === undefined ? {} : { configPath: opts.config }),
        ...(opts.host === undefined ? {} : { host: opts.host }),
        ...(opts.port === undefined ? {} : { port: opts.port }),
        ...(opts.keyHierarchy === undefined ? {} : { keyHierarchy: opts.keyHierarchy }),
        env: io.env,
      });
      if (!cluster.isWorker) printLine(io, `temporal-envelope codec server listening on ${server.publicUrl}`);
    },
  );
}
