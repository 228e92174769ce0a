import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * The audit trail: one JSON line per codec request saying who asked, for which namespace, which
 * workflows and keys were touched, what was decided and how long it took. Never payload bytes,
 * tokens or key material: only ids and counts are passed in, and credential headers are redacted
 * in case a future change logs a request.
 */
export interface AuditRecord {
  route: '/decode' | '/encode';
  principal: string | null;
  via?: string | undefined;
  namespace: string | null;
  /** The workflow the caller named in X-Envelope-Workflow-Id, if any. */
  targetWorkflowId?: string | undefined;
  status: number;
  decision: 'allowed' | 'partial' | 'denied' | 'unauthenticated' | 'invalid' | 'error';
  workflowIds?: string[];
  keyIds?: string[];
  counts?: { payloads: number; decoded?: number; encoded?: number; leftSealed?: number; passthrough?: number; failed?: number };
  failures?: Record<string, number>;
  error?: string;
  latencyMs: number;
  remoteAddress?: string;
}

const MAX_IDS = 20;

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
  const out = {
    ...record,
    ...(record.workflowIds ? { workflowIds: capped(record.workflowIds), workflowIdCount: record.workflowIds.length } : {}),
    ...(record.keyIds ? { keyIds: capped(record.keyIds) } : {}),
  };
  logger.info({ audit: out }, `audit ${record.route} ${record.decision} ${record.status}`);
}

function capped(ids: string[]): string[] {
  return ids.length <= MAX_IDS ? ids : [...ids.slice(0, MAX_IDS), `…+${ids.length - MAX_IDS}`];
}
