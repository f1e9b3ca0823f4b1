import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import pinoHttp from 'pino-http';
import { ZodError } from 'zod';
import { AppError, AuthenticationError, InputError, UnavailableError } from './errors';
import { Logger, scrub, scrubText } from './logger';
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
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
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
 * a 502/503 (Confluence or the database unavailable) keeps its message, which is written for people.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = normalise(err);
    const log = (req as { log?: Logger }).log ?? logger;
    const told = (err instanceof AppError || e.told === true) && e.status !== 500;
    if (e.status >= 500) log.error({ err: scrubError(err) }, 'request failed');
    else log.info({ status: e.status, reason: e.message }, 'request refused');
    if (res.headersSent) return;
    const message = e.status >= 500 && !told ? 'Something went wrong on our side. Try again, or ask your admin to check the logs.' : e.message;
    res.status(e.status);
    const wantsJson =
      req.originalUrl.startsWith('/api/') ||
      req.method !== 'GET' ||
      (!req.accepts('html') && !!req.accepts('json'));
    if (wantsJson) {
      res.json({ error: { status: e.status, message } });
    } else {
      res.render('error', { status: e.status, message, layout: 'layout' }, (renderErr: Error | null, html?: string) => {
        if (renderErr) res.type('text/plain').send(message);
        else res.send(html);
      });
    }
  };
}

/** `told`: a 5xx whose message is written for people (shown, like an AppError's). */
function normalise(err: unknown): { status: number; message: string; told?: boolean } {
  if (err instanceof AppError) return { status: err.status, message: err.message };
  if (err instanceof ZodError) return { status: 400, message: new InputError(zodMessage(err)).message };
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; status?: unknown; type?: unknown; message?: unknown };
    // ACE (expressErrorHandling) hands authentication failures over as {code, message}. Its messages
    // quote the token, the signing input or a store error: people get ours instead (see aceAuthMessage).
    if (typeof e.code === 'number' && (e.code === 400 || e.code === 401 || e.code === 403)) {
      return { status: 401, message: new AuthenticationError(aceAuthMessage(String(e.message ?? ''))).message };
    }
    // ACE's only 5xx: its tenant lookup failed (the database).
    if (typeof e.code === 'number' && e.code >= 500 && typeof e.message === 'string') {
      return { status: 503, message: new UnavailableError('Attest cannot check this request right now. Try again in a moment.').message, told: true };
    }
    // body-parser: malformed JSON, body too large.
    if (e.type === 'entity.parse.failed') return { status: 400, message: 'the request body is not valid JSON' };
    if (e.type === 'entity.too.large') return { status: 413, message: 'the request body is too large' };
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return { status: e.status, message: String(e.message ?? 'bad request') };
    }
  }
  return { status: 500, message: 'internal error' };
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

export function zodMessage(err: ZodError): string {
  return err.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** What a log may hold of an error: never "[object Object]", never a token (ACE rejects with plain objects). */
function scrubError(err: unknown): unknown {
  if (err instanceof Error) return { name: err.name, message: scrubText(err.message), stack: err.stack && scrubText(err.stack) };
  if (err && typeof err === 'object') return scrub(err);
  return { message: scrubText(String(err)) };
}

/** 404 for anything no router claimed. */
export const notFound: RequestHandler = (req, res) => {
  const message = `nothing at ${req.method} ${req.path}`;
  if (req.originalUrl.startsWith('/api/') || !req.accepts('html')) res.status(404).json({ error: { status: 404, message } });
  else res.status(404).type('text/plain').send(message);
};
