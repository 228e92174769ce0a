import type { Payload } from '@temporalio/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EnvelopeCodec, LocalKeyring, makeScope, peekScope } from '../codecs/index.js';
import { newKeyringDocument } from '../keys/keyring-file.js';
import { isEnvelopeError } from '../primitives/errors.js';
import { DEFAULT_SCOPE_RULES, checkScope, isScheduleRunOf, type ScopeRules } from '../primitives/scope-rules.js';
import { MAX_SCOPE_FIELD_BYTES, type Scope } from '../primitives/scope.js';
import { samePayload } from './support/payloads.js';

/**
 * The decided scope rules (docs/wire-format.md, "Decoding rules"), case for case the table of the Go
 * codec's TestCheckScopeRules and the Python codec's test_scope.py, and the id rules: every id
 * Temporal accepts seals and opens byte for byte, or sealing refuses it with MALFORMED_PAYLOAD.
 */

const ring = LocalKeyring.fromDocument(newKeyringDocument());
const codec = new EnvelopeCodec({ keyProviders: ring });
const enc = new TextEncoder();
const wf = (namespace: string, workflowId?: string): Scope => (workflowId === undefined ? { namespace } : { namespace, workflowId });
const on: ScopeRules = DEFAULT_SCOPE_RULES;
const off: ScopeRules = { acceptNamespaceScoped: false, scheduleRuns: false };

describe('checkScope', () => {
  const cases: [name: string, sealed: Scope, expected: Scope, rules: ScopeRules, ok: boolean][] = [
    ['1. other namespace', wf('a', 'x'), wf('b', 'x'), on, false],
    ['1. other namespace, namespace-only context', wf('a', 'x'), wf('b'), on, false],
    ['2. namespace-only context accepts a workflow payload', wf('a', 'x'), wf('a'), on, true],
    ['2. namespace-only context accepts a namespace payload', wf('a'), wf('a'), on, true],
    ['3. same workflow', wf('a', 'x'), wf('a', 'x'), on, true],
    ['3. other workflow', wf('a', 'x'), wf('a', 'y'), on, false],
    ['3. ids compared exactly (BOM)', wf('a', 'x'), wf('a', '\ufeffx'), on, false],
    ['3. ids compared exactly (NUL)', wf('a', 'x'), wf('a', 'x\0'), on, false],
    ['3. schedule run', wf('a', 'nightly'), wf('a', 'nightly-2026-11-25T15:14:31Z'), on, true],
    ['3. schedule run of an id that ends in a time', wf('a', 'n-2026-11-25T15:14:31Z'), wf('a', 'n-2026-11-25T15:14:31Z-2026-11-29T18:27:31Z'), on, true],
    ['3. schedule run, clause off', wf('a', 'nightly'), wf('a', 'nightly-2026-11-25T15:14:31Z'), off, false],
    ['3. not a calendar date', wf('a', 'nightly'), wf('a', 'nightly-2026-02-30T15:14:31Z'), on, false],
    ['3. month 13, hour 99', wf('a', 'S'), wf('a', 'S-2026-13-45T99:99:99Z'), on, false],
    ['3. hour 24', wf('a', 'nightly'), wf('a', 'nightly-2026-11-25T24:00:00Z'), on, false],
    ['3. leap second', wf('a', 'nightly'), wf('a', 'nightly-2026-12-31T23:59:60Z'), on, false],
    ['3. year 0000', wf('a', 'nightly'), wf('a', 'nightly-0000-01-01T00:00:00Z'), on, false],
    ['3. 29 February of a leap year', wf('a', 'nightly'), wf('a', 'nightly-2028-02-29T00:00:00Z'), on, true],
    ['3. 29 February of 2100', wf('a', 'nightly'), wf('a', 'nightly-2100-02-29T00:00:00Z'), on, false],
    ['3. fractional seconds', wf('a', 'nightly'), wf('a', 'nightly-2026-11-25T15:14:31.5Z'), on, false],
    ['3. offset instead of Z', wf('a', 'nightly'), wf('a', 'nightly-2026-11-25T15:14:31+00:00'), on, false],
    ['3. lowercase z', wf('a', 'nightly'), wf('a', 'nightly-2026-11-25T15:14:31z'), on, false],
    ['3. non-ASCII digits', wf('a', 'nightly'), wf('a', 'nightly-２０２６-11-25T15:14:31Z'), on, false],
    ['3. no dash', wf('a', 'nightly'), wf('a', 'nightly2026-11-25T15:14:31Z'), on, false],
    ['3. the reverse direction is not a run', wf('a', 'nightly-2026-11-25T15:14:31Z'), wf('a', 'nightly'), on, false],
    ['3. a prefix of the action id', wf('a', 'night'), wf('a', 'nightly-2026-11-25T15:14:31Z'), on, false],
    ['3. a run of a run is not a run of the action', wf('a', 'n'), wf('a', 'n-2026-11-25T15:14:31Z-2026-11-25T15:14:32Z'), on, false],
    ['4. namespace payload in a workflow, default', wf('a'), wf('a', 'x'), on, false],
    ['4. namespace payload in a workflow, accepted', wf('a'), wf('a', 'x'), { acceptNamespaceScoped: true, scheduleRuns: true }, true],
    ['4. namespace payload in another namespace, accepted or not', wf('a'), wf('b', 'x'), { acceptNamespaceScoped: true, scheduleRuns: true }, false],
  ];
  for (const [name, sealed, expected, rules, ok] of cases) {
    it(name, () => {
      if (ok) expect(() => checkScope(sealed, expected, rules)).not.toThrow();
      else expect(() => checkScope(sealed, expected, rules)).toThrow(expect.objectContaining({ code: 'SCOPE_MISMATCH' }));
    });
  }

  it('defaults: namespace-scoped payloads refused, schedule runs accepted', () => {
    expect(DEFAULT_SCOPE_RULES).toEqual({ acceptNamespaceScoped: false, scheduleRuns: true });
    expect(Object.isFrozen(DEFAULT_SCOPE_RULES)).toBe(true);
  });

  it('isScheduleRunOf accepts every real time and only those (checked against Date)', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
        const t = d.toISOString().replace(/\.\d{3}Z$/, 'Z');
        expect(isScheduleRunOf(`S-${t}`, 'S')).toBe(true);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/), (t) => {
        const real = !Number.isNaN(Date.parse(t)) && new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z') === t && !t.startsWith('0000');
        expect(isScheduleRunOf(`S-${t}`, 'S')).toBe(real);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('makeScope: the ids a header can carry exactly', () => {
  it('keeps a leading BOM, NUL and 1024-byte ids, and refuses what would not read back', () => {
    expect(makeScope('default', '\ufeffwf').workflowId).toBe('\ufeffwf');
    expect(makeScope('default', 'a\0b').workflowId).toBe('a\0b');
    expect(makeScope('default', 'w'.repeat(1024)).workflowId).toHaveLength(1024);
    expect(makeScope('\ufeffns').namespace).toBe('\ufeffns');
    const refused: [string, string | undefined, RegExp][] = [
      ['', undefined, /"namespace" expected a non-empty string/],
      ['default', '', /"workflowId" expected a non-empty string/],
      ['default', 'w'.repeat(1025), /"workflowId" expected at most 1024 UTF-8 bytes, got 1025/],
      ['default', 'é'.repeat(513), /at most 1024 UTF-8 bytes, got 1026/],
      ['n'.repeat(1025), 'x', /"namespace" expected at most 1024 UTF-8 bytes/],
      ['default', 'wf-\ud800', /"workflowId" is not well-formed Unicode \(a lone surrogate at index 3\)/],
      ['default', '\udc00wf', /lone surrogate at index 0/],
      ['ns\udbff', 'x', /"namespace" is not well-formed Unicode/],
    ];
    for (const [ns, id, message] of refused) {
      expect(() => makeScope(ns, id), `${JSON.stringify(ns)} ${JSON.stringify(id)}`).toThrow(expect.objectContaining({ code: 'MALFORMED_PAYLOAD', message: expect.stringMatching(message) }));
    }
    // A surrogate pair is a character like any other.
    expect(makeScope('default', 'wf-😀').workflowId).toBe('wf-😀');
  });

  it('refuses to seal for a context whose workflow id cannot be written, instead of sealing for a lookalike', async () => {
    const out = await codec.encode([{ data: new Uint8Array([1]) }], { type: 'workflow', namespace: 'default', workflowId: 'wf-\ud800' }).catch((e: unknown) => e);
    expect(isEnvelopeError(out) && out.code).toBe('MALFORMED_PAYLOAD');
  });

  // Code units of every kind: any code point, lone surrogate halves (which may also pair up), the
  // BOM and NUL; up to 400 of them, so both sides of the 1024-byte limit come up.
  const unit = fc.oneof(
    { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    { weight: 2, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
    { weight: 1, arbitrary: fc.constantFrom('\ufeff', '\0', '-', 'Z') },
  );
  const anyString = fc.oneof(fc.string({ unit, maxLength: 12 }), fc.string({ unit, minLength: 200, maxLength: 400 }));

  it('seal then open round-trips any namespace and workflow id byte for byte, or sealing refuses it with the reason', async () => {
    await fc.assert(
      fc.asyncProperty(anyString, fc.option(anyString, { nil: undefined }), async (namespace, workflowId) => {
        const why = (s: string) => (s === '' ? 'empty' : /[\uD800-\uDFFF]/u.test(s) ? 'surrogate' : enc.encode(s).length > MAX_SCOPE_FIELD_BYTES ? 'long' : undefined);
        const problem = why(namespace) ?? (workflowId === undefined ? undefined : why(workflowId));
        let scope: Scope;
        try {
          scope = makeScope(namespace, workflowId);
        } catch (err) {
          expect(problem, `refused ${JSON.stringify([namespace, workflowId])} without a reason`).toBeDefined();
          expect(err).toMatchObject({ code: 'MALFORMED_PAYLOAD' });
          const message = (err as Error).message;
          if (problem === 'surrogate') expect(message).toMatch(/lone surrogate/);
          if (problem === 'long') expect(message).toMatch(/at most 1024 UTF-8 bytes/);
          if (problem === 'empty') expect(message).toMatch(/non-empty/);
          return;
        }
        expect(problem, `accepted ${JSON.stringify([namespace, workflowId])}`).toBeUndefined();
        const input: Payload = { metadata: { encoding: enc.encode('json/plain') }, data: enc.encode('"x"') };
        const [sealed] = await codec.encodeInScope([input], scope);
        const meta = sealed!.metadata!;
        expect(Buffer.from(meta['envelope-namespace']!).equals(Buffer.from(enc.encode(namespace)))).toBe(true);
        if (workflowId === undefined) expect(meta['envelope-workflow-id']).toBeUndefined();
        else expect(Buffer.from(meta['envelope-workflow-id']!).equals(Buffer.from(enc.encode(workflowId)))).toBe(true);
        expect(peekScope(sealed!)?.scope).toEqual(scope);
        const context = workflowId === undefined ? undefined : { type: 'workflow' as const, namespace, workflowId };
        const [opened] = await codec.decode([sealed!], context);
        expect(samePayload(opened!, input)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});
