import { describe, expect, it } from 'vitest';
import { EnvelopeCodec, KmsUnavailableError, LocalKeyring } from '../codecs/index.js';
import { newKeyringDocument } from '../keys/keyring-file.js';
import { REFUSED_ENCODING, readRefusedMarker, refusedMarker } from '../primitives/refused-marker.js';
import { CountingProvider } from './support/counting-provider.js';

/**
 * markRefusedInWorkflow: in a workflow context a refused payload becomes a marker (which the
 * workflow interceptor drops from a signal, test/e2e-injection.test.ts), everywhere else the codec
 * still throws, and a failure that may pass (KMS down) throws even in a workflow context.
 */
const ring = LocalKeyring.fromDocument(newKeyringDocument());
const wf = (workflowId: string) => ({ type: 'workflow' as const, namespace: 'default', workflowId });
const json = (v: unknown) => ({ metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new TextEncoder().encode(JSON.stringify(v)) });

describe('refused-payload markers', () => {
  it('round-trip their code and reason, and nothing else reads as one', () => {
    expect(readRefusedMarker(refusedMarker('SCOPE_MISMATCH', 'sealed for "a", opened in "b\u{1F600}"'))).toEqual({ code: 'SCOPE_MISMATCH', reason: 'sealed for "a", opened in "b\u{1F600}"' });
    expect(readRefusedMarker(json(1))).toBeUndefined();
    expect(readRefusedMarker({ metadata: { encoding: new TextEncoder().encode(`${REFUSED_ENCODING}x`) } })).toBeUndefined();
    expect(readRefusedMarker({})).toBeUndefined();
    expect(readRefusedMarker(undefined)).toBeUndefined();
  });

  it('a codec with markRefusedInWorkflow marks refusals in a workflow context, in place, and opens the rest', async () => {
    const sealer = new EnvelopeCodec({ keyProviders: ring });
    const [mine] = await sealer.encode([json('ok')], wf('w1'));
    const [other] = await sealer.encode([json('other')], wf('w2'));
    const [namespaceWide] = await sealer.encodeInScope([json('ns')], { namespace: 'default' });
    const codec = new EnvelopeCodec({ keyProviders: ring, requireEncryption: true, markRefusedInWorkflow: true });
    const out = await codec.decode([mine!, other!, json('plain'), namespaceWide!], wf('w1'));
    expect(new TextDecoder().decode(out[0]!.data!)).toBe('"ok"');
    expect(readRefusedMarker(out[1])).toEqual({ code: 'SCOPE_MISMATCH', reason: 'payload sealed for workflow "w2" cannot be decoded in workflow "w1"' });
    expect(readRefusedMarker(out[2])?.code).toBe('PLAINTEXT_REJECTED');
    expect(readRefusedMarker(out[3])?.code).toBe('SCOPE_MISMATCH');
    expect(out[1]!.data).toHaveLength(0);
  });

  it('still throws in an activity context, without a context, and without the option', async () => {
    const marking = new EnvelopeCodec({ keyProviders: ring, requireEncryption: true, markRefusedInWorkflow: true });
    const activity = { type: 'activity' as const, namespace: 'default', workflowId: 'w1', activityId: '1', isLocal: false };
    await expect(marking.decode([json('plain')], activity)).rejects.toMatchObject({ code: 'PLAINTEXT_REJECTED' });
    await expect(marking.decode([json('plain')])).rejects.toMatchObject({ code: 'PLAINTEXT_REJECTED' });
    await expect(new EnvelopeCodec({ keyProviders: ring, requireEncryption: true }).decode([json('plain')], wf('w1'))).rejects.toMatchObject({ code: 'PLAINTEXT_REJECTED' });
    expect(() => new EnvelopeCodec({ keyProviders: ring, markRefusedInWorkflow: 'yes' as unknown as boolean })).toThrow(/markRefusedInWorkflow/);
  });

  it('throws a failure that may pass (KMS down) even in a workflow context: the task retries, the signal is not lost', async () => {
    const kms = new CountingProvider(LocalKeyring.fromDocument(newKeyringDocument()));
    const [sealed] = await new EnvelopeCodec({ keyProviders: kms }).encode([json('later')], wf('w1'));
    kms.failWith = new KmsUnavailableError('KMS endpoint refused the connection');
    const codec = new EnvelopeCodec({ keyProviders: kms, markRefusedInWorkflow: true });
    await expect(codec.decode([sealed!], wf('w1'))).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE', retryable: true });
    kms.failWith = undefined;
    expect(new TextDecoder().decode((await codec.decode([sealed!], wf('w1')))[0]!.data!)).toBe('"later"');
  });
});
