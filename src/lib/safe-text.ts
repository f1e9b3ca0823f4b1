import { z } from 'zod';

/**
 * Text from outside the process must be storable as PostgreSQL text and jsonb: no NUL (U+0000, which
 * neither accepts) and well-formed UTF-16 (a lone surrogate cannot be encoded as UTF-8). JavaScript strings
 * allow both, so every string that enters (JWT claims, path and query parameters, bodies, webhook payloads)
 * is checked here before it reaches a store: a bad one is a 400 (or 401 for a token), never a 500.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string cannot be stored, in words for the person who sent it; null when it can. */
export function textProblem(s: string): string | null {
  if (s.includes('\u0000')) return 'must not contain a NUL character';
  if (LONE_SURROGATE.test(s)) return 'must be valid Unicode text';
  return null;
}

export const isSafeText = (s: string): boolean => textProblem(s) === null;

/** The same string with every NUL and lone surrogate replaced by U+FFFD (for display data we keep). */
export function sanitiseText(s: string): string {
  return s.replace(/\u0000/g, '\uFFFD').replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD');
}

/**
 * A zod string that is storable text of at most `max` characters. Use it for every string field of a
 * schema that validates input from outside.
 */
export function safeText(opts: { max: number; min?: number; name?: string }) {
  const what = opts.name ?? 'text';
  let s = z.string({ message: `${what} must be a string` }).max(opts.max, `${what} must be at most ${opts.max} characters`);
  if (opts.min) s = s.min(opts.min, opts.min === 1 ? `${what} must not be empty` : `${what} must be at least ${opts.min} characters`);
  return s.superRefine((v, ctx) => {
    const problem = textProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: `${what} ${problem}` });
  });
}

/**
 * The path (`a.b[2]`) of the first string or object key inside a JSON-like value that is not storable
 * text, or null. Depth is bounded by the body parsers; `maxDepth` guards what they do not cover.
 */
export function unsafeTextPath(value: unknown, path = '', maxDepth = 32): string | null {
  if (typeof value === 'string') return isSafeText(value) ? null : path || '(value)';
  if (value === null || typeof value !== 'object') return null;
  if (maxDepth <= 0) return path || '(value)';
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const bad = unsafeTextPath(value[i], `${path}[${i}]`, maxDepth - 1);
      if (bad) return bad;
    }
    return null;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const at = path ? `${path}.${k}` : k;
    if (!isSafeText(k)) return path ? `${path}.(a key)` : '(a key)';
    const bad = unsafeTextPath(v, at, maxDepth - 1);
    if (bad) return bad;
  }
  return null;
}

/** A deep copy of a JSON-like value with every string and key made storable by sanitiseText. */
export function sanitiseDeep<T>(value: T, maxDepth = 32): T {
  if (typeof value === 'string') return sanitiseText(value) as T;
  if (value === null || typeof value !== 'object' || maxDepth <= 0) return value;
  if (Array.isArray(value)) return value.map((v) => sanitiseDeep(v, maxDepth - 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[sanitiseText(k)] = sanitiseDeep(v, maxDepth - 1);
  return out as T;
}
