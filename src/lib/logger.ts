import pino, { Logger } from 'pino';

export type { Logger };

/** Runs of base64url characters and dots: where a JWT can be. Each character is consumed once. */
const TOKEN_RUN = /[A-Za-z0-9_.-]+/g;
const SECRET_KEYS = /secret|password|authorization|jwt|token|privateKey|signingKey/i;

/**
 * Removes JWTs from a string (used for URLs and third-party log messages).
 * A JWT here is what `eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*` matches, found in linear time:
 * that regex, run directly, is quadratic on a long run of `eyJ` without dots (anyone can send such a path).
 */
export function scrubText(text: string): string {
  return text
    .replace(TOKEN_RUN, scrubRun)
    .replace(/([?&](?:jwt|acpt)=)[^&\s]*/g, '$1[jwt]')
    .replace(CAPABILITY_RUN, `${CAPABILITY_PREFIX}[redacted]`);
}

/**
 * Secret URLs (capability URLs: whoever has one may read what it serves, e.g. a calendar subscription)
 * carry their secret after this prefix. Whatever logs a URL path (pino-http, ACE, errors) never shows it.
 */
export const CAPABILITY_PREFIX = 'atcap_';
const CAPABILITY_RUN = new RegExp(`${CAPABILITY_PREFIX}[A-Za-z0-9_-]+`, 'g');

function scrubRun(run: string): string {
  if (!run.includes('eyJ')) return run;
  const segments = run.split('.');
  const out: string[] = [];
  let i = 0;
  while (i < segments.length) {
    const seg = segments[i];
    const at = seg.indexOf('eyJ');
    // The leftmost `eyJ` leaves the most characters after it: if it has fewer than 5, no later one has.
    if (at >= 0 && seg.length - at - 3 >= 5 && i + 2 < segments.length) {
      // header.payload.signature (payload and signature may be empty): three segments become one.
      out.push(`${seg.slice(0, at)}[jwt]`);
      i += 3;
    } else {
      out.push(seg);
      i += 1;
    }
  }
  return out.join('.');
}

/** Deep copy of a value for logging with secret-looking keys and JWTs removed. */
export function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object' || depth > 6) return value;
  if (value instanceof Error) return { name: value.name, message: scrubText(value.message), stack: value.stack && scrubText(value.stack) };
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEYS.test(k) ? '[redacted]' : scrub(v, depth + 1);
  }
  return out;
}

/**
 * An error as pino should see it: name, message, code (errno or SQLSTATE), stack and its causes, with JWTs
 * scrubbed. Never the raw object: a pg error carries the query's parameters, which may be personal data.
 */
export function errorForLog(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) {
    if (err && typeof err === 'object') {
      const o = err as { code?: unknown; message?: unknown };
      return { type: 'object', code: o.code, message: scrubText(String(o.message ?? 'no message')) };
    }
    return { message: scrubText(String(err)) };
  }
  const e = err as Error & { code?: unknown; errors?: unknown };
  const out: Record<string, unknown> = { type: e.name, message: scrubText(e.message) };
  if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
  if (e.stack) out.stack = scrubText(e.stack);
  if (depth < 3 && e.cause !== undefined) out.cause = errorForLog(e.cause, depth + 1);
  if (depth < 3 && Array.isArray(e.errors)) out.errors = e.errors.slice(0, 5).map((x) => errorForLog(x, depth + 1));
  return out;
}

export function createLogger(opts: { level?: string; pretty?: boolean } = {}): Logger {
  return pino({
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: 'attest' },
    redact: {
      paths: ['sharedSecret', '*.sharedSecret', 'req.headers.authorization', 'headers.authorization', 'jwt', '*.jwt'],
      censor: '[redacted]',
    },
    // Every `err` logged anywhere: name, message, code, stack and causes, with JWTs scrubbed.
    serializers: { err: errorForLog },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that writes nothing (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * ACE's messages that quote a token or what was decoded from it ("Signature verification failed for input:
 * <header>.<claims> with method sha256", a JSON error quoting the claims): everything after the prefix goes.
 * The signing input has two segments, so scrubText's header.payload.signature rule does not catch it.
 */
const ACE_TOKEN_ECHO = /(for input: |Invalid JWT: |Unable to decode(?:Symmetric)? JWT token: )[\s\S]*/g;

/**
 * ACE logs through a console-like object and sometimes prints whole objects (install payloads,
 * request bodies). Everything it hands us is scrubbed before it reaches pino.
 */
export function aceLogger(logger: Logger) {
  const fmt = (args: unknown[]) => {
    const objs = args.filter((a) => a !== null && typeof a === 'object');
    const text = args
      .filter((a) => a === null || typeof a !== 'object')
      .map((a) => scrubText(String(a)).replace(ACE_TOKEN_ECHO, '$1[redacted]'))
      .join(' ');
    return { ctx: objs.length ? { ace: scrub(objs) } : {}, text };
  };
  const at = (level: 'debug' | 'info' | 'warn' | 'error') => (...args: unknown[]) => {
    const { ctx, text } = fmt(args);
    logger[level]({ component: 'ace', ...ctx }, text);
  };
  return { debug: at('debug'), info: at('debug'), log: at('debug'), warn: at('warn'), error: at('warn') };
}

/** The `log` option knex takes: where its warnings (e.g. "Acquire connection error"), errors and deprecations go. */
export interface KnexLog {
  debug(message: unknown): void;
  warn(message: unknown): void;
  error(message: unknown): void;
  deprecate(message: unknown): void;
}

/** Within this window a message repeated word for word is counted, not written again. */
export const LOG_REPEAT_WINDOW_MS = 10_000;

/**
 * knex's own messages as pino JSON instead of multi-line console text: the first line is the message, the
 * rest (a stack) a field. While the database is down, every request that wants a connection makes knex warn;
 * a message repeated within LOG_REPEAT_WINDOW_MS is written once and then once more with how often it came.
 */
export function knexLog(logger: Logger, now: () => number = Date.now): KnexLog {
  const log = logger.child({ component: 'knex' });
  const seen = new Map<string, { at: number; repeated: number }>();
  const at = (level: 'debug' | 'warn' | 'error') => (message: unknown) => {
    const text = scrubText(typeof message === 'string' ? message : message instanceof Error ? message.stack ?? message.message : JSON.stringify(scrub(message)));
    const [first, ...rest] = text.split('\n');
    const t = now();
    const prev = seen.get(first);
    if (prev && t - prev.at < LOG_REPEAT_WINDOW_MS) {
      prev.repeated++;
      return;
    }
    if (seen.size > 100) seen.clear();
    seen.set(first, { at: t, repeated: 0 });
    const repeated = prev?.repeated ?? 0;
    log[level]({ ...(rest.length ? { detail: rest.join('\n').trim().slice(0, 4000) } : {}), ...(repeated ? { repeated } : {}) }, first);
  };
  return { debug: at('debug'), warn: at('warn'), error: at('error'), deprecate: at('warn') };
}
