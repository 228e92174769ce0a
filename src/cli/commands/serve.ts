import { Option, type Command } from 'commander';
import { printLine, type CliIo } from '../io.js';
import { parseNonEmpty, parsePort } from '../parse.js';

/** `serve`: run the codec server. Loaded lazily so `keys …` never pays for fastify. */
export function registerServe(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('run the codec server the Temporal UI and CLI decode through (stops on SIGTERM/SIGINT)')
    .addOption(new Option('-c, --config <file>', 'server config file (YAML or JSON)').env('TEMPORAL_ENVELOPE_CONFIG').argParser(parseNonEmpty))
    .addOption(new Option('--host <host>', 'address to listen on (overrides the config)').argParser(parseNonEmpty))
    .addOption(new Option('--port <port>', 'port to listen on (overrides the config)').argParser(parsePort))
    .action(async (opts: { config?: string; host?: string; port?: number }) => {
      const { serve } = await import('../../server/index.js');
      const server = await serve({
        ...(opts.config === undefined ? {} : { configPath: opts.config }),
        ...(opts.host === undefined ? {} : { host: opts.host }),
        ...(opts.port === undefined ? {} : { port: opts.port }),
        env: io.env,
      });
      printLine(io, `temporal-envelope codec server listening on ${server.publicUrl}`);
    });
}
