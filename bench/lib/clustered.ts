import cluster from 'node:cluster';
import { clusterPeer, startPrimary } from '../../src/server/cluster.js';

/**
 * Run a bench server as `serve --workers N` runs the codec server: with BENCH_WORKERS > 1 this
 * process becomes a node:cluster primary (src/server/cluster.ts) forking N copies that each call
 * `start`, so the echo floor, the static-key baseline and ours are clustered the same way and the
 * ratios compare like with like. Prints the URL once; SIGTERM stops every process.
 */
export async function serveBench(start: () => Promise<{ url: string; close(): Promise<void> }>): Promise<void> {
  const workers = Number(process.env.BENCH_WORKERS ?? 1);
  if (workers > 1 && cluster.isPrimary) {
    const primary = startPrimary({ workers });
    process.stdout.write(`${await primary.url}\n`);
    process.on('SIGTERM', () => void primary.close().then(() => process.exit(0)));
    return;
  }
  const server = await start();
  const peer = clusterPeer();
  if (peer) peer.listening(server.url);
  else process.stdout.write(`${server.url}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}
