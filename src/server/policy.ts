import type { Scope } from '../../primitives/scope.js';
import type { PolicyRule, ServerConfig } from '../config/schema.js';
import type { Principal } from './auth/principal.js';
import { glob, type StepMeter } from './glob.js';

// Where the server's index has always found it.
export { glob };

export type Action = 'decode' | 'encode';

/**
 * Who may decode or encode what. Deny by default: a principal may act on a scope only if some rule
 * names the principal (or one of its groups), the namespace, the action and, when the rule has
 * patterns, the payload's sealed workflow id.
 */
export class Policy {
  private readonly rules: readonly CompiledRule[];

  constructor(readonly config: ServerConfig['policy']) {
    this.rules = config.rules.map(compile);
  }

  /** May `principal` do `action` in `namespace` at all (before looking at payloads)? */
  allowsNamespace(principal: Principal, action: Action, namespace: string, meter?: StepMeter): boolean {
    return this.rules.some((r) => r.appliesTo(principal) && r.actions.has(action) && r.matchesNamespace(namespace, meter));
  }

  /** `meter` counts the glob matcher's steps (see glob.ts): tests bound it for hostile ids. */
  allows(principal: Principal, action: Action, scope: Scope, meter?: StepMeter): boolean {
    return this.rules.some((r) => r.appliesTo(principal) && r.actions.has(action) && r.matchesNamespace(scope.namespace, meter) && r.matchesWorkflow(scope.workflowId, meter));
  }
}

interface CompiledRule {
  actions: ReadonlySet<Action>;
  appliesTo(p: Principal): boolean;
  matchesNamespace(ns: string, meter?: StepMeter): boolean;
  matchesWorkflow(id: string | undefined, meter?: StepMeter): boolean;
}

function compile(rule: PolicyRule): CompiledRule {
  const principals = new Set(rule.principals);
  const groups = new Set(rule.groups);
  const namespaces = rule.namespaces.map(glob);
  const patterns = rule.workflowIdPatterns?.map(glob);
  return {
    actions: new Set(rule.actions),
    appliesTo: (p) => principals.has('*') || principals.has(p.id) || p.groups.some((g) => groups.has(g)),
    matchesNamespace: (ns, meter) => namespaces.some((g) => g.test(ns, meter)),
    matchesWorkflow: (id, meter) => {
      if (patterns === undefined) return true;
      if (id === undefined) return rule.includeNamespaceScoped;
      return patterns.some((g) => g.test(id, meter));
    },
  };
}
