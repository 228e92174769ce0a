#!/usr/bin/env node
/**
 * The `temporal-envelope` command (package.json "bin"). Sets the exit code instead of calling
 * process.exit(), so `serve` keeps running after its command resolves and pending output is flushed.
 */
import { runCli } from './run.js';

process.exitCode = await runCli(process.argv.slice(2));
