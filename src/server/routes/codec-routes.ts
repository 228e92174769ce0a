import type { Payload } from '@temporalio/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { EnvelopeCodec } from '../../../codecs/envelope-codec.js';
import { isEnvelopeError } from '../../../primitives/errors.js';
import { peekScope } from '../../../primitives/format-versions.js';
import { payloadsFromJson } from '../../../codecs/payload-json.js';
import { makeScope } from '../../../primitives/scope.js';
import type { ServerConfig } from '../../config/schema.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { FailedAuthThrottle } from '../auth/failed-auth-throttle.js';
import { audit, type AuditRecord } from '../audit.js';
import { auditIds } from '../audit-ids.js';
import { HttpError, badRequest, forbidden, toHttp } from '../http-errors.js';
import type { ServerMetrics } from '../metrics.js';
import { serializePayloads } from '../serialize.js';
import type { Action, Policy } from '../policy.js';
import { targetWorkflowId } from '../target-workflow.js';

interface Deps {
  config: Readonly<ServerConfig>;
  codec: EnvelopeCodec;
  auth: Authenticator;
  throttle: FailedAuthThrottle;
  policy: Policy;
  metrics: ServerMetrics;
  logger: Logger;
}

// The response schema makes fastify serialize only these fields: nothing else can leak out.
const errorResponse = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } },
};
const payloadsResponse = {
  '4xx': errorResponse,
  '5xx': errorResponse,
  200: {
    type: 'object',
    properties: {
      payloads: {
        type: 'array',
        items: { type: 'object', properties: { metadata: { type: 'object', additionalProperties: { type: 'string' } }, data: { type: 'string' } } },
      },
    },
  },
};

/**
 * Failures that mean "this server has no access to that key any more": the payload goes back sealed
 * like one the caller may not see, so the UI still renders the rest of the history.
 */
const LEFT_SEALED_ON_FAILURE = new Set(['KEY_RETIRED', 'KEY_SHREDDED', 'KMS_ACCESS_DENIED']);

const NAMESPACE_RE = /^[A-Za-z0-9._-]{1,255}$/;

/**
 * Temporal's codec protocol: POST /decode and /encode with `{"payloads": [...]}` (proto3 JSON) and
 * the namespace in `X-Namespace` (temporalio/ui src/lib/services/data-encoder.ts), and optionally
 * our extension `X-Envelope-Workflow-Id` (../target-workflow.ts). The UI renders a
 * payload the server returns unchanged as encoded, so a payload this caller may not open (policy,
 * retired or shredded key) is returned as it came, rather than failing the whole page; a payload
 * that is ours but broken fails the request with its typed code.
 */
export function registerCodecRoutes(app: FastifyInstance, deps: Deps): void {
  const { config, codec, auth, throttle, policy, metrics, logger } = deps;

  const start = (route: '/decode' | '/encode') => async (req: FastifyRequest) => {
    req.audit = { route, principal: null, namespace: null, remoteAddress: req.ip };
    // JSON only: a text/plain or form POST is what a cross-origin page can send without a CORS
    // preflight, so refusing it up front keeps session cookies from riding such requests.
    if (!/^application\/json\s*(;|$)/i.test(header(req, 'content-type') ?? '')) {
      throw new HttpError('UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
    }
    // The CLI's --codec-endpoint may template the namespace into the path (https://codec/{namespace}).
    const fromPath = (req.params as { namespace?: string } | undefined)?.namespace;
    const fromHeader = header(req, 'x-namespace');
    if (fromPath !== undefined && fromHeader !== undefined && fromPath !== fromHeader) {
      throw badRequest(`namespace in the path (${JSON.stringify(fromPath)}) and X-Namespace (${JSON.stringify(fromHeader)}) differ`);
    }
    const ns = fromPath ?? fromHeader ?? config.codec.defaultNamespace;
    if (!NAMESPACE_RE.test(ns)) throw badRequest(`${fromPath !== undefined ? 'namespace in the path' : 'X-Namespace header'} is not a valid namespace name`);
    req.audit.namespace = ns;
    const target = targetWorkflowId(req.headers, ns);
    if (target !== undefined) req.audit.targetWorkflowId = target;
    req.principal = await throttle.guard(req.ip, () => auth.authenticate(req.headers));
    req.audit.principal = req.principal.id;
    req.audit.via = req.principal.via;
  };

  const finish = (req: FastifyRequest, reply: FastifyReply) => {
    const a = req.audit;
    if (!a?.route) return;
    const status = reply.statusCode;
    const decision = a.decision ?? (status === 401 ? 'unauthenticated' : status === 403 ? 'denied' : status === 429 ? 'throttled' : status >= 500 ? 'error' : status >= 400 ? 'invalid' : 'allowed');
    const record: AuditRecord = { ...(a as AuditRecord), status, decision, latencyMs: Math.round(reply.elapsedTime * 100) / 100 };
    audit(logger, record);
    metrics.requests.inc({ route: a.route, status: String(status), decision });
    metrics.duration.observe({ route: a.route }, reply.elapsedTime / 1000);
  };

  const onError = async (req: FastifyRequest, _reply: FastifyReply, err: Error) => {
    if (!req.audit) return;
    const { error } = toHttp(err).body;
    req.audit.error = error.code;
    // Why a caller could not be authenticated, and what to do, goes in the log: neither the UI nor the temporal CLI shows the body.
    if (error.code === 'UNAUTHENTICATED' || error.code === 'ISSUER_UNAVAILABLE') req.audit.reason = error.message;
  };

  const rateLimit = config.rateLimit.enabled ? { rateLimit: {} } : {};

  const decode = async (req: FastifyRequest, reply: FastifyReply) => {
    const principal = req.principal!;
    const audit = req.audit!;
    const ns = audit.namespace!;
    requireNamespace(policy, principal, 'decode', ns);
    // With a target workflow, open only what a worker in that workflow would accept (the codec's
    // scope rules, with this server's codec.acceptNamespaceScoped and codec.scheduleRuns), and
    // only for a caller allowed that workflow.
    const target = audit.targetWorkflowId === undefined ? undefined : makeScope(ns, audit.targetWorkflowId);
    if (target !== undefined && !policy.allows(principal, 'decode', target)) {
      throw forbidden(`${principal.id} may not decode for workflow ${JSON.stringify(target.workflowId)} in namespace ${JSON.stringify(ns)}`);
    }
    const payloads = parse(req.body, config.server.maxPayloadsPerRequest);

    // The codec reads each header once and asks here, once per request and before any key is
    // touched, which payloads this caller may see: its namespace must be X-Namespace and a rule
    // must allow the sealed workflow.
    const results = await codec.decodeDetailed(payloads, {
      passThroughUnopenable: true,
      ...(target === undefined ? {} : { expectedScope: target }),
      authorize: (sealed) => {
        const allowed = sealed.map(({ scope }) => scope.namespace === ns && policy.allows(principal, 'decode', scope));
        const denied = allowed.filter((a) => !a).length;
        if (denied > 0 && policy.config.onDeny === 'forbid') {
          Object.assign(audit, auditIds(sealed), { counts: { payloads: payloads.length, leftSealed: denied } });
          throw forbidden(`${principal.id} may not decode ${denied} of ${payloads.length} payloads (namespace or workflow not allowed)`);
        }
        return allowed;
      },
      // A samples-format payload under a legacy key names no namespace and no workflow. The codec
      // protocol tells the server only the namespace (X-Namespace), so it is authorized as a
      // namespace-scoped payload of that namespace: a rule limited to workflow-id patterns covers
      // it only with includeNamespaceScoped (SECURITY.md, "Payloads from the samples codec").
      authorizeLegacy: (legacy) => {
        const allowed = legacy.map(() => policy.allows(principal, 'decode', makeScope(ns)));
        const denied = allowed.filter((a) => !a).length;
        if (denied > 0 && policy.config.onDeny === 'forbid') {
          Object.assign(audit, auditIds(legacy), { counts: { payloads: payloads.length, leftSealed: denied } }); // key ids only claimed: nothing opened
          throw forbidden(`${principal.id} may not decode ${denied} of ${payloads.length} payloads (legacy payloads carry no workflow id; the rule needs includeNamespaceScoped)`);
        }
        return allowed;
      },
    });
    Object.assign(audit, auditIds(results));

    const rejected = results.findIndex((r) => r.status === 'failed' && !(isEnvelopeError(r.error) && LEFT_SEALED_ON_FAILURE.has(r.error.code)));
    if (rejected >= 0) {
      // A payload that is ours but broken (tampered, unknown key, bad format) is an error the
      // operator must see, not a silent sealed blob; KMS down is a 503 to retry.
      const { status, body } = toHttp(results[rejected]!.error);
      audit.error = body.error.code;
      audit.counts = { payloads: payloads.length, failed: results.filter((r) => r.status === 'failed').length };
      metrics.payloads.inc({ op: 'decode', outcome: 'failed' }, audit.counts.failed);
      if (status === 503) void reply.header('retry-after', '1');
      return reply.code(status).send({ error: { code: body.error.code, message: `payloads[${rejected}]: ${body.error.message}` } });
    }
    const counts = { payloads: payloads.length, decoded: 0, leftSealed: 0, passthrough: 0, failed: 0 };
    const failures: Record<string, number> = {};
    for (const r of results) {
      if (r.status === 'decoded') counts.decoded++;
      else if (r.status === 'denied') counts.leftSealed++;
      else if (r.status === 'passthrough') counts.passthrough++;
      else {
        counts.failed++;
        const code = isEnvelopeError(r.error) ? r.error.code : 'ERROR';
        failures[code] = (failures[code] ?? 0) + 1;
      }
    }
    metrics.payloads.inc({ op: 'decode', outcome: 'decoded' }, counts.decoded);
    metrics.payloads.inc({ op: 'decode', outcome: 'left_sealed' }, counts.leftSealed);
    metrics.payloads.inc({ op: 'decode', outcome: 'passthrough' }, counts.passthrough);
    metrics.payloads.inc({ op: 'decode', outcome: 'failed' }, counts.failed);
    audit.counts = counts;
    if (counts.failed) audit.failures = failures;
    audit.decision = counts.leftSealed > 0 ? (counts.decoded > 0 ? 'partial' : 'denied') : 'allowed';
    return sendPayloads(reply, results.map((r) => r.payload));
  };

  const encode = async (req: FastifyRequest, reply: FastifyReply) => {
    const principal = req.principal!;
    const ns = req.audit!.namespace!;
    const targetId = req.audit!.targetWorkflowId;
    requireNamespace(policy, principal, 'encode', ns);
    // The same workflow-id rules as /decode: sealing for a workflow needs a rule that allows the
    // caller that workflow; sealing for the whole namespace (no target: what the Temporal UI
    // asks for) needs a rule without patterns or with includeNamespaceScoped, so a caller limited
    // to tenant-acme-* cannot mint payloads that a worker with acceptNamespaceScoped would take
    // in every workflow of the namespace.
    const scope = makeScope(ns, targetId);
    if (!policy.allows(principal, 'encode', scope)) {
      throw forbidden(
        targetId === undefined
          ? `${principal.id} may not encode namespace-scoped payloads in namespace ${JSON.stringify(ns)} (its rules name workflow-id patterns without includeNamespaceScoped); name the workflow in X-Envelope-Workflow-Id`
          : `${principal.id} may not encode for workflow ${JSON.stringify(targetId)} in namespace ${JSON.stringify(ns)}`,
      );
    }
    if (targetId !== undefined) req.audit!.verifiedWorkflowIds = [targetId]; // authorized above, and sealed by this server
    const payloads = parse(req.body, config.server.maxPayloadsPerRequest);
    const sealed = await codec.encodeInScope(payloads, scope);
    const keyIds = new Set(sealed.map((p) => peekScope(p)?.keyId).filter((k): k is string => k !== undefined));
    req.audit!.verifiedKeyIds = [...keyIds]; // chosen by this server, not by the caller
    req.audit!.counts = { payloads: payloads.length, encoded: sealed.length };
    metrics.payloads.inc({ op: 'encode', outcome: 'encoded' }, sealed.length);
    return sendPayloads(reply, sealed);
  };

  for (const prefix of ['', '/:namespace']) {
    const options = (route: '/decode' | '/encode') => ({ onRequest: start(route), onResponse: finish, onError, schema: { response: payloadsResponse }, config: rateLimit });
    app.post(`${prefix}/decode`, options('/decode'), decode);
    app.post(`${prefix}/encode`, options('/encode'), encode);
  }
}

function requireNamespace(policy: Policy, principal: { id: string; groups: readonly string[]; via: 'static-token' | 'jwt' | 'session' }, action: Action, ns: string): void {
  if (!policy.allowsNamespace(principal, action, ns)) throw forbidden(`${principal.id} may not ${action} in namespace ${JSON.stringify(ns)}`);
}

/** The reply written by serialize.ts, which emits only metadata and data (as the 200 schema would), at a fraction of the generic serializer's cost. */
function sendPayloads(reply: FastifyReply, payloads: readonly Payload[]): FastifyReply {
  // A string with a JSON content type goes out as it is: fastify serializes only objects.
  return reply.type('application/json; charset=utf-8').send(serializePayloads(payloads));
}

function parse(body: unknown, max: number): Payload[] {
  try {
    return payloadsFromJson(body, { maxPayloads: max });
  } catch (err) {
    throw badRequest((err as Error).message);
  }
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}
