import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import pinoHttp from 'pino-http';
import { ZodError } from 'zod';
import { AppError, AuthenticationError, DatabaseUnavailableError, InputError, isDatabaseUnavailable, UnavailableError } from './errors';
import { Logger, scrubText } from './logger';
import { textProblem, unsafeTextPath } from './safe-text';

/**
 * Node's defaults let a socket live as long as its client wants. These end a client that is slow to send
 * its request, and any socket on which nothing moves for two minutes (a response nobody reads).
 */
export function applyServerTimeouts(server: Server): void {
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.timeout = 120_000;
  // Keep-alive sockets would otherwise hold shutdown open until they time out.
  server.keepAliveTimeout = 5_000;
}

/** Wraps an async handler so a rejected promise reaches the error middleware. */
export function asyncHandler<Req extends Request = Request>(
  fn: (req: Req, res: Response, next: NextFunction) => Promise<unknown>,
): RequestHandler {
  return (req, res, next) => {
    fn(req as Req, res, next).catch(next);
  };
}

/** pino-http with a request id (X-Request-Id in, X-Request-Id out) and no query strings or headers. */
export function requestLogger(logger: Logger): RequestHandler {
  return pinoHttp({
    logger,
    genReqId: (req, res) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    // A 503 (the database away for a moment) is expected during a restart: a warning, not an error.
    customLogLevel: (_req, res, err) => (res.statusCode === 503 ? 'warn' : err || res.statusCode >= 500 ? 'error' : 'info'),
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
    serializers: {
      req: (req: { id: unknown; method: string; url: string }) => ({
        id: req.id,
        method: req.method,
        path: scrubText(String(req.url).split('?')[0]),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  }) as unknown as RequestHandler;
}

/**
 * Error view for iframes, JSON under /api; only 5xx are logged as errors. The detail of a 500 is hidden;
 * a 502/503 (Confluence or the database unavailable) keeps its message, which is written for people, and a
 * 503 says when to try again (`Retry-After`). The database being away is classified here, in one place.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const cause = asError(err);
    const e = normalise(cause);
    const log = (req as { log?: Logger }).log ?? logger;
    if (e.status === 503) log.warn({ err: cause }, 'request refused: service unavailable');
    else if (e.status >= 500) log.error({ err: cause }, 'request failed');
    else log.info({ status: e.status, reason: e.message }, 'request refused');
    if (res.headersSent) return;
    res.status(e.status);
    if (e.retryAfterSeconds !== undefined) res.set('Retry-After', String(e.retryAfterSeconds));
    const wantsJson =
      req.originalUrl.startsWith('/api/') ||
      req.method !== 'GET' ||
      (!req.accepts('html') && !!req.accepts('json'));
    if (wantsJson) {
      res.json({ error: { status: e.status, message: e.message } });
    } else {
      res.render('error', { status: e.status, message: e.message, layout: 'layout' }, (renderErr: Error | null, html?: string) => {
        if (renderErr) res.type('text/plain').send(e.message);
        else res.send(html);
      });
    }
  };
}

const HIDDEN_500 = 'Something went wrong on our side. Try again, or ask your admin to check the logs.';

/**
 * ACE (expressErrorHandling) hands its failures over as plain `{code, message}` objects; as an Error they
 * log with their message instead of "[object Object]". A 500 from ACE is its tenant lookup failing: when
 * that lookup failed because the database is away, our store said so (DatabaseUnavailableError) in the text.
 */
class ConnectError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = 'ConnectError';
  }
}

function asError(err: unknown): unknown {
  if (err instanceof Error || !err || typeof err !== 'object') return err;
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e.code === 'number' && typeof e.message === 'string') {
    const ace = new ConnectError(e.code, e.message);
    return e.code >= 500 && e.message.includes(DatabaseUnavailableError.name) ? new DatabaseUnavailableError(ace) : ace;
  }
  return err;
}

function normalise(err: unknown): { status: number; message: string; retryAfterSeconds?: number } {
  if (err instanceof UnavailableError) return { status: err.status, message: err.message, retryAfterSeconds: err.retryAfterSeconds };
  if (err instanceof AppError) return { status: err.status, message: err.status === 500 ? HIDDEN_500 : err.message };
  if (isDatabaseUnavailable(err)) {
    const unavailable = new DatabaseUnavailableError(err);
    return { status: 503, message: unavailable.message, retryAfterSeconds: unavailable.retryAfterSeconds };
  }
  if (err instanceof ZodError) return { status: 400, message: new InputError(zodMessage(err)).message };
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; status?: unknown; type?: unknown; message?: unknown };
    // ACE's authentication failures. Its messages quote the token, the signing input or a store error:
    // people get ours instead (see aceAuthMessage).
    if (typeof e.code === 'number' && (e.code === 400 || e.code === 401 || e.code === 403)) {
      return { status: 401, message: new AuthenticationError(aceAuthMessage(String(e.message ?? ''))).message };
    }
    // body-parser: malformed JSON, body too large.
    if (e.type === 'entity.parse.failed') return { status: 400, message: 'the request body is not valid JSON' };
    if (e.type === 'entity.too.large') return { status: 413, message: 'the request body is too large' };
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return { status: e.status, message: String(e.message ?? 'bad request') };
    }
  }
  return { status: 500, message: HIDDEN_500 };
}

/** ACE's authentication messages, by what they start with, as plain sentences that quote nothing sent to us. */
const ACE_AUTH_MESSAGES: Array<[RegExp, string]> = [
  [/^Could not find authentication data/, 'this needs a JWT from Confluence'],
  [/^Invalid JWT/, 'the JWT cannot be read'],
  [/did not contain the issuer/, 'the JWT does not say who issued it (iss)'],
  [/did not contain the query string hash/, 'the JWT has no query string hash (qsh)'],
  [/^Could not find (stored client data|JWT sharedSecret)/, 'the JWT names no installation of this app'],
  [/^Unable to decodeSymmetric/, 'the JWT signature is not valid'],
  [/^Unable to decode JWT token/, 'the install JWT signature is not valid'],
  [/^Could not get public key/, 'the install JWT names a key Atlassian has not published'],
  [/did not contain the correct audience/, 'the JWT is not addressed to this app (aud)'],
  [/has expired/, 'the JWT has expired. Try reloading the page.'],
  [/query hash does not match/, 'the JWT was not issued for this URL (its query string hash does not match)'],
  [/is not authorized to register/, 'this site may not install the app'],
  [/^No (registration info|baseUrl|client key)/, 'the install payload is incomplete'],
  [/did not match authenticated client/, 'the install payload names another installation than its JWT'],
];

function aceAuthMessage(message: string): string {
  const known = ACE_AUTH_MESSAGES.find(([pattern]) => pattern.test(message));
  return known ? known[1] : 'the request could not be authenticated';
}

/**
 * Refuses a URL whose path or query holds text no store can keep (a NUL, a lone surrogate) or a
 * %-escape that does not decode, before any route or ACE reads it. Routes still validate their
 * parameters' shape with zod; this is the one place that covers every parameter of every route.
 */
export const refuseUnsafeUrlText: RequestHandler = (req, _res, next) => {
  let path: string;
  try {
    path = decodeURIComponent(req.path);
  } catch {
    return next(new InputError('the URL path is not valid: a %-escape does not decode to UTF-8 text'));
  }
  const problem = textProblem(path);
  if (problem) return next(new InputError(`the URL path ${problem}`));
  const bad = unsafeTextPath(req.query, '', 8);
  if (bad) return next(new InputError(`query parameter ${bad} must be valid Unicode text without NUL characters`));
  next();
};

/** Validates a body, query or params with a zod schema; failure is an InputError (400) naming the fields. */
export function parseInput<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: ZodError } }, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new InputError(zodMessage(r.error));
  return r.data;
}

/**
 * The issues in one line. A message written as a sentence that names its field as people see it (it starts
 * with a capital or a quote: "Remind approvers every … days must be at least 1") stands alone; others get
 * the field's path in front.
 */
export function zodMessage(err: ZodError): string {
  return err.issues
    .map((i) => (i.path.length && !/^["A-Z]/.test(i.message) ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** 404 for anything no router claimed. */
export const notFound: RequestHandler = (req, res) => {
  const message = `nothing at ${req.method} ${req.path}`;
  if (req.originalUrl.startsWith('/api/') || !req.accepts('html')) res.status(404).json({ error: { status: 404, message } });
  else res.status(404).type('text/plain').send(message);
};
