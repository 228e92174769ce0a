import { ScopeMismatchError } from './errors.js';
import type { Scope } from './scope.js';

/**
 * The scope rules every decoder of the project applies (docs/wire-format.md, "Decoding rules"; the
 * Go codec's primitives.CheckScope and the Python codec's check_scope are the same rules). A payload
 * names its namespace N' and maybe a workflow S; a decoder with a serialization context expects
 * namespace N and maybe a workflow W:
 *
 *   1. N' != N: SCOPE_MISMATCH.
 *   2. the context names no workflow (namespace-only context): accepted.
 *   3. S present: accepted if S == W, or (scheduleRuns) if W is a schedule run of S; else SCOPE_MISMATCH.
 *   4. S absent (a namespace-scoped payload): SCOPE_MISMATCH unless acceptNamespaceScoped.
 *
 * Ids are compared exactly. Both sides are well-formed strings (makeScope, and a header decoded as
 * strict UTF-8), so comparing the strings is comparing their UTF-8 bytes.
 */
export interface ScopeRules {
  /**
   * Accept, in a workflow or activity context, a payload sealed for the namespace as a whole (no
   * workflow id): what the Temporal UI's and the `temporal` CLI's /encode make without a target
   * workflow. Off by default: anyone allowed to /encode in the namespace can make such a payload,
   * so accepting it lets them inject input or signals into every workflow of the namespace.
   */
  readonly acceptNamespaceScoped: boolean;
  /**
   * Accept, in workflow W, a payload sealed for workflow S when W is a run a Temporal schedule
   * started from an action with workflow id S (see isScheduleRunOf). On by default: without it no
   * scheduled workflow can read its own input.
   */
  readonly scheduleRuns: boolean;
}

export const DEFAULT_SCOPE_RULES: ScopeRules = Object.freeze({ acceptNamespaceScoped: false, scheduleRuns: true });

/** Throws ScopeMismatchError unless a payload sealed for `sealed` may be opened where `expected` is. */
export function checkScope(sealed: Scope, expected: Scope, rules: ScopeRules): void {
  if (sealed.namespace !== expected.namespace) {
    throw new ScopeMismatchError(`payload sealed for namespace ${JSON.stringify(sealed.namespace)} cannot be decoded in namespace ${JSON.stringify(expected.namespace)}`);
  }
  if (expected.workflowId === undefined) return;
  if (sealed.workflowId === undefined) {
    if (rules.acceptNamespaceScoped) return;
    throw new ScopeMismatchError(
      `namespace-scoped payload rejected in workflow ${JSON.stringify(expected.workflowId)}: it names no workflow, so anyone allowed to encode in the namespace could have made it (acceptNamespaceScoped is off)`,
    );
  }
  if (sealed.workflowId === expected.workflowId) return;
  if (rules.scheduleRuns && isScheduleRunOf(expected.workflowId, sealed.workflowId)) return;
  throw new ScopeMismatchError(`payload sealed for workflow ${JSON.stringify(sealed.workflowId)} cannot be decoded in workflow ${JSON.stringify(expected.workflowId)}`);
}

/** `-` and then exactly YYYY-MM-DDTHH:MM:SSZ in ASCII digits. */
const RUN_SUFFIX = /^-([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z$/;
const RUN_SUFFIX_LENGTH = '-2026-11-25T15:14:31Z'.length;

/**
 * Whether `runId` is the id the Temporal server gives a run that a schedule starts from an action
 * with workflow id `actionId`: `actionId + "-" + T`, T the run's nominal time as RFC 3339 in UTC
 * with whole seconds (Go's time.RFC3339 of a UTC time truncated to the second), exactly
 * `YYYY-MM-DDTHH:MM:SSZ`, and a real calendar time: year 0001–9999, a day that exists in that month
 * (proleptic Gregorian), hours 00–23, minutes and seconds 00–59 (no leap second). Seen against
 * Temporal Server 1.32 for spec firings, `trigger()` and backfills alike, and for action ids that
 * already end in such a time (the server appends another).
 */
export function isScheduleRunOf(runId: string, actionId: string): boolean {
  if (runId.length !== actionId.length + RUN_SUFFIX_LENGTH || !runId.startsWith(actionId)) return false;
  // actionId is well-formed, so it ends on a code point boundary and the suffix starts at one.
  const m = RUN_SUFFIX.exec(runId.slice(actionId.length));
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && hour <= 23 && minute <= 59 && second <= 59;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
