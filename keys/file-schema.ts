import YAML from 'yaml';
import { z } from 'zod';
import { KeyringError, describeIssues } from '../primitives/errors.js';

/**
 * How every key file is read: parsed (JSON, or YAML where a file may be either), then checked
 * against its zod schema. A KeyringError names the file and every field that is wrong. Schemas
 * keep fields they do not know (loose objects), so a file written by a newer version survives an
 * older version's read-modify-write.
 */
export function parseKeyFile<T extends z.ZodType>(schema: T, text: string, what: string, syntax: 'json' | 'yaml' = 'json'): z.output<T> {
  let doc: unknown;
  try {
    doc = syntax === 'yaml' ? YAML.parse(text) : JSON.parse(text);
  } catch {
    throw new KeyringError(`${what} is not valid ${syntax === 'yaml' ? 'YAML' : 'JSON'}`);
  }
  return validateKeyFile(schema, doc, what);
}

export function validateKeyFile<T extends z.ZodType>(schema: T, doc: unknown, what: string): z.output<T> {
  const result = schema.safeParse(doc);
  if (!result.success) throw new KeyringError(`${what}: ${describeIssues(result.error.issues)}`);
  return result.data;
}

/** A time as the key files record it: an ISO-8601 string. */
export const isoTime = z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'expected an ISO date string');
