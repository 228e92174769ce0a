import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import { boundAuditRecord } from './audit-bounds.js';
import type { AuditIds } from './audit-ids.js';

/**
 * The audit trail: one JSON line per codec request saying who asked, for which namespace, which
 * workflows and keys were touched, what was decided and how long it took. Never payload bytes,
 * tokens or key material: only ids and counts are passed in, and credential headers are redacted
 * in case a future change logs a request. Ids are marked verified or claimed (audit-ids.ts) and
 * every line is bounded in size (audit-bounds.ts).
 */
export interface AuditRecord extends AuditIds {
  route: '/decode' | '/encode';
  principal: string | null;
  via?: string | undefined;
  namespace: string | null;
  /** The workflow the caller named in X-Envelope-Workflow-Id, if any. */
  targetWorkflowId?: string | undefined;
  status: number;
  /** `throttled`: a 429, from the failed-authentication throttle or the per-principal rate limit. */
  decision: 'allowed' | 'partial' | 'denied' | 'unauthenticated' | 'throttled' | 'invalid' | 'error';
  counts?: { payloads: number; decoded?: number; encoded?: number; leftSealed?: number; passthrough?: number; failed?: number };
  failures?: Record<string, number>;
  error?: string;
  /** For a 401 (or the IdP's keys unavailable): why, and what to do. Never a credential. */
  reason?: string;
  latencyMs: number;
  remoteAddress?: string;
}

export function createLogger(options: { level: string; pretty: boolean; destination?: DestinationStream }): Logger {
  const base = {
    level: options.level,
    base: { service: 'temporal-envelope' },
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["authorization-extras"]', 'res.headers["set-cookie"]', '*.token', '*.data', '*.plaintext', '*.key'],
      censor: '[redacted]',
    },
  };
  if (options.destination) return pino(base, options.destination);
  // pino-pretty is a development dependency: a checkout has it (`npm start` in a terminal), an
  // installed package need not. Without it, JSON lines as in production, and one line saying why.
  const pretty = options.pretty && canLoad('pino-pretty');
  if (pretty) return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, destination: 2 } } });
  // Synchronous on purpose: an asynchronous destination buffers lines in memory when the process is
  // saturated and stdout falls behind (a 5-minute soak grew ~18 MB/min that way), and loses the
  // buffer on a crash. A slow log reader back-pressures requests instead; no audit line is dropped.
  const logger = pino(base, pino.destination({ dest: 1, sync: true }));
  if (options.pretty && !pretty) logger.warn('log.pretty: pino-pretty is not installed (npm install pino-pretty); writing JSON lines');
  return logger;
}

function canLoad(module: string): boolean {
  try {
    createRequire(import.meta.url).resolve(module);
    return true;
  } catch {
    return false;
  }
}

export function audit(logger: Logger, record: AuditRecord): void {
  logger.info({ audit: boundAuditRecord(record) }, `audit ${record.route} ${record.decision} ${record.status}`);
}
