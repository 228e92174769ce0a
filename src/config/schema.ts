import { z } from 'zod';
import { checkShredStore, dynamoDbShredStoreSchema, fileShredStoreSchema, postgresShredStoreSchema, withFileDefault } from '../../keys/shred-store-options.js';
import { decodeSecret } from './secret.js';

/**
 * The codec server's configuration: one schema, defaults that are safe on a laptop (loopback only,
 * deny by default), validated once at start-up into a frozen object.
 */
const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();

/**
 * `keys.shredStore`: the store's own options (keys/shred-store-options.ts, the same a worker passes
 * to openKeyProviders), plus how often this server polls it for shreds. `{ path }` alone is the file store.
 */
const watchIntervalMs = { watchIntervalMs: z.number().int().min(0).default(2000) };
const shredStore = z.preprocess(
  withFileDefault,
  z.discriminatedUnion('type', [fileShredStoreSchema.extend(watchIntervalMs), dynamoDbShredStoreSchema.extend(watchIntervalMs), postgresShredStoreSchema.extend(watchIntervalMs)]),
);

const staticToken = z
  .object({
    /** Who this token is, for policy and the audit log. */
    principal: z.string().min(1),
    /** `sha256:<64 hex>` of the token: the token itself is never stored in config. */
    sha256: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected "sha256:" followed by 64 lowercase hex digits'),
    groups: z.array(z.string().min(1)).default([]),
    revoked: z.boolean().default(false),
  })
  .strict();

const jwt = z
  .object({
    jwksUrl: z.url(),
    issuer: z.string().min(1),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    algorithms: z.array(z.string()).default(['RS256', 'ES256', 'PS256', 'EdDSA']),
    clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
    /** Claims whose values (string, array of strings, or space-separated) count as groups. */
    groupClaims: z.array(z.string().min(1)).default(['groups', 'roles']),
    subjectClaim: z.string().min(1).default('sub'),
  })
  .strict();

/** Longest policy glob: the matcher's work grows with it (src/server/glob.ts, which enforces it too). */
export const MAX_GLOB_PATTERN_LENGTH = 256;
const globPattern = z.string().min(1).max(MAX_GLOB_PATTERN_LENGTH, `expected a glob of at most ${MAX_GLOB_PATTERN_LENGTH} characters`);

/** A key given as base64: judged by the bytes it decodes to (src/config/secret.ts). */
const base64Secret = z.string().superRefine((value, ctx) => {
  const decoded = decodeSecret(value);
  if (!decoded.ok) ctx.addIssue({ code: 'custom', message: decoded.problem });
});

const rule = z
  .object({
    /** Principals (static token names or JWT subjects) this rule applies to; "*" for any authenticated caller. */
    principals: z.array(z.string().min(1)).default([]),
    groups: z.array(z.string().min(1)).default([]),
    namespaces: z.array(globPattern).min(1),
    /** Globs on the sealed workflow id: "*" any run of characters, "?" one. Absent: any workflow. */
    workflowIdPatterns: z.array(globPattern).optional(),
    /** Whether namespace-scoped payloads (no workflow id) match a rule with workflowIdPatterns. Default false. */
    includeNamespaceScoped: z.boolean().default(false),
    actions: z.array(z.enum(['decode', 'encode'])).min(1),
  })
  .strict()
  .refine((r) => r.principals.length + r.groups.length > 0, { message: 'a rule needs "principals" or "groups"' });

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(8888),
        bodyLimitBytes: positiveInt.max(64 * 1024 * 1024).default(4 * 1024 * 1024),
        maxPayloadsPerRequest: positiveInt.max(100_000).default(1000),
        requestTimeoutMs: positiveInt.default(15_000),
        /**
         * Which peers may set X-Forwarded-For/-Proto/-Host: true (any), or their addresses/CIDRs,
         * comma-separated. Not a hop count: fastify ≥ 5.12 trusts no proxy for one, silently.
         */
        trustProxy: z
          .union([z.boolean(), z.string().min(1), z.number()])
          .refine((v) => typeof v !== 'number', {
            message: 'a hop count is not accepted (fastify trusts no proxy for one, since a client could forge the hops); give the proxy addresses or CIDRs, e.g. "10.0.0.0/8", or true',
          })
          .transform((v) => v as boolean | string)
          .default(false),
        tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict().optional(),
        shutdownGraceMs: positiveInt.default(10_000),
      })
      .strict()
      .prefault({}),
    cors: z
      .object({
        /** Exact origins of the Temporal UI (scheme://host:port). No wildcards: credentials are allowed. */
        origins: z.array(z.string().regex(/^https?:\/\/[^/*]+$/, 'expected an exact origin like https://temporal.example.com')).default([]),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        staticTokens: z.array(staticToken).default([]),
        jwt: jwt.optional(),
        session: z
          .object({
            enabled: z.boolean().default(true),
            /** HMAC key for session cookies, base64 (≥ 32 bytes). Absent: random per process (sessions end on restart). */
            secret: base64Secret.optional(),
            ttlSeconds: positiveInt.max(24 * 3600).default(3600),
            cookieName: z.string().regex(/^[A-Za-z0-9_-]+$/).default('te_session'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    policy: z
      .object({
        rules: z.array(rule).default([]),
        /** What to do with a payload the caller may not decode: refuse the request, or return it sealed. */
        onDeny: z.enum(['forbid', 'leave-sealed']).default('leave-sealed'),
      })
      .strict()
      .prefault({}),
    keys: z
      .object({
        provider: z.enum(['local', 'aws-kms']).default('local'),
        local: z.object({ path: z.string().min(1).optional(), watchIntervalMs: z.number().int().min(0).default(2000) }).strict().prefault({}),
        awsKms: z
          .object({
            keyConfigFile: z.string().min(1).optional(),
            keys: z.array(z.object({ keyId: z.string().min(1), region: z.string().min(1).optional() }).strict()).optional(),
            region: z.string().min(1).optional(),
            endpoint: z.url().optional(),
            requestTimeoutMs: positiveInt.default(3000),
          })
          .strict()
          .optional(),
        /**
         * The shred store the workers use (a directory, a DynamoDB table or a PostgreSQL database that
         * every worker and codec server shares): without it the server cannot open crypto-shreddable
         * payloads (key ids "shred:…"). Shreds made by `keys shred` are noticed within
         * watchIntervalMs and such payloads then stay sealed.
         */
        shredStore: shredStore.optional(),
        /**
         * The legacy key file (`keys import-legacy`): keys of the Temporal samples' encryption codec,
         * so the server also opens payloads that codec sealed (authorized by namespace only: they
         * name no workflow). Default none.
         */
        legacyKeys: z.object({ path: z.string().min(1) }).strict().optional(),
      })
      .strict()
      .prefault({}),
    codec: z
      .object({
        defaultNamespace: z.string().min(1).default('default'),
        algorithm: z.enum(['AES-256-GCM', 'XCHACHA20-POLY1305']).default('AES-256-GCM'),
        /**
         * How the server's /encode makes data keys: "per-workflow" (a KMS data key per scope,
         * format v1) or "branch" (derived from a branch key per namespace, format v2). Decoding
         * reads both either way. docs/key-management.md, "Choosing a key hierarchy".
         */
        keyHierarchy: z.enum(['per-workflow', 'branch']).default('per-workflow'),
        /** With keyHierarchy "branch": how long one branch key makes data keys for a namespace. Default 1 h. */
        branchKeyMaxAgeMs: positiveInt.optional(),
        /**
         * The scope rules /decode applies when the caller names a workflow (X-Envelope-Workflow-Id):
         * set them as the workers of that namespace have them (EnvelopeCodec options of the same names).
         */
        acceptNamespaceScoped: z.boolean().default(false),
        scheduleRuns: z.boolean().default(true),
        cache: z
          .object({
            maxAgeMs: positiveInt.optional(),
            maxPayloadsPerKey: positiveInt.optional(),
            maxEntries: positiveInt.optional(),
            maxDecryptEntries: positiveInt.optional(),
            decryptMaxAgeMs: positiveInt.optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    rateLimit: z
      .object({
        enabled: z.boolean().default(true),
        /** Requests per authenticated principal per window (per client address on /login). */
        max: positiveInt.default(600),
        windowMs: positiveInt.default(60_000),
        /**
         * Unproven credentials (unknown token, bad JWT signature, malformed header) per client
         * address per window, counted before authentication; past it the address gets 429.
         */
        failedAuth: z
          .object({
            enabled: z.boolean().default(true),
            max: positiveInt.default(20),
            windowMs: positiveInt.default(60_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** Human-readable lines; default: when stdout is a terminal. */
        pretty: z.boolean().optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.keys.provider === 'aws-kms' && !c.keys.awsKms?.keys?.length && !c.keys.awsKms?.keyConfigFile) {
      ctx.addIssue({ code: 'custom', path: ['keys', 'awsKms'], message: 'provider aws-kms needs "keys" or "keyConfigFile"' });
    }
    if (c.keys.shredStore) checkShredStore(c.keys.shredStore, ctx, ['keys', 'shredStore']);
  });

export type ServerConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type PolicyRule = ServerConfig['policy']['rules'][number];
