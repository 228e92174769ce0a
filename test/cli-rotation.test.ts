import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../codecs/envelope-codec.js';
import { peekScope } from '../primitives/format-versions.js';
import { LocalKeyring } from '../keys/local-keyring.js';
import { jsonPayload, text } from './support/payloads.js';
import { parseJson, runCli } from './cli-support/run-cli.js';

/**
 * Hot rotation: a running codec (as in a worker or codec server) picks up `keys rotate`, run by
 * another process, without a restart; new data keys are wrapped by the new primary and payloads
 * sealed before keep opening.
 */

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'te-cli-rotation-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const ctx = (workflowId: string) => ({ type: 'workflow' as const, namespace: 'default', workflowId });

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 30_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a running codec picks up a CLI rotation', () => {
  it('wraps new data keys with the new primary, also for a scope whose key is cached, and old payloads still open', async () => {
    const keyring = path.join(dir, 'keyring.json');
    const init = await runCli(['keys', 'init', '--keyring', keyring, '--json']);
    expect(init.code, init.stderr).toBe(0);
    const v1 = parseJson<{ key: { id: string } }>(init.stdout).key.id;

    const ring = await LocalKeyring.open({ path: keyring, create: false, watchIntervalMs: 50 });
    try {
      const codec = new EnvelopeCodec({ keyProviders: ring });
      const [before] = await codec.encode([jsonPayload({ n: 1 })], ctx('wf-cached'));
      expect(peekScope(before as Payload)?.keyId).toBe(v1);
      expect(codec.keys.stats().encryptEntries).toBe(1);

      const rot = await runCli(['keys', 'rotate', '--keyring', keyring, '--json']);
      expect(rot.code, rot.stderr).toBe(0);
      const v2 = parseJson<{ primary: { id: string } }>(rot.stdout).primary.id;

      // Same scope as before: its cached data key (wrapped by v1) must not be reused.
      const after = await eventually('the codec to seal with the new primary', async () => {
        const [p] = await codec.encode([jsonPayload({ n: 2 })], ctx('wf-cached'));
        return peekScope(p as Payload)?.keyId === v2 ? p : undefined;
      });
      const [fresh] = await codec.encode([jsonPayload({ n: 3 })], ctx('wf-new'));
      expect(peekScope(fresh as Payload)?.keyId).toBe(v2);

      const [oldOpened] = await codec.decode([before as Payload], ctx('wf-cached'));
      expect(JSON.parse(text(oldOpened))).toEqual({ n: 1 });
      const [newOpened] = await codec.decode([after as Payload], ctx('wf-cached'));
      expect(JSON.parse(text(newOpened))).toEqual({ n: 2 });

      // A codec started after the rotation (empty caches) opens both generations too.
      const restarted = new EnvelopeCodec({ keyProviders: LocalKeyring.fromDocument(JSON.parse(await fs.readFile(keyring, 'utf8'))) });
      const opened = await restarted.decode([before as Payload, after as Payload], ctx('wf-cached'));
      expect(opened.map((p) => JSON.parse(text(p)))).toEqual([{ n: 1 }, { n: 2 }]);
    } finally {
      ring.close();
    }
  });
});
