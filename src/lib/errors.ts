/** Typed errors that carry their HTTP status; one middleware turns them into responses. */
export class AppError extends Error {
  readonly status: number = 500;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
export class InputError extends AppError {
  readonly status = 400;
}
export class AuthenticationError extends AppError {
  readonly status = 401;
}
export class NotAllowedError extends AppError {
  readonly status = 403;
}
export class NotFoundError extends AppError {
  readonly status = 404;
}
export class ConflictError extends AppError {
  readonly status = 409;
}
export class TooManyRequestsError extends AppError {
  readonly status = 429;
}
export class UpstreamError extends AppError {
  readonly status = 502;
}
export class UnavailableError extends AppError {
  readonly status = 503;
  /** Seconds a client should wait before trying again (the `Retry-After` header). */
  readonly retryAfterSeconds: number = 5;
}

/** How long a client should wait when the database is away (a restart or failover takes seconds). */
export const DATABASE_RETRY_AFTER_S = 5;

/**
 * PostgreSQL cannot be reached or is not taking work right now (stopped, restarting, failing over, out of
 * connections). The client may retry: a decision retried with the same Idempotency-Key is recorded once.
 */
export class DatabaseUnavailableError extends UnavailableError {
  readonly retryAfterSeconds = DATABASE_RETRY_AFTER_S;
  constructor(cause?: unknown) {
    super('The database is unavailable for a moment: try again in a few seconds.', { cause });
  }
}

/** Socket errors of a connection that could not be made or was cut. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']);
/**
 * SQLSTATEs that mean "the server is not available", not "the request was wrong" (PostgreSQL Appendix A):
 * class 08 connection exceptions, 53300 too_many_connections, 57P01 admin_shutdown, 57P02 crash_shutdown,
 * 57P03 cannot_connect_now, 57P05 idle_session_timeout.
 */
const UNAVAILABLE_SQLSTATES = new Set(['53300', '57P01', '57P02', '57P03', '57P05']);
/**
 * What node-postgres and knex say (no code) when a connection ends under them or cannot be had. Not anchored:
 * knex puts the SQL in front of a query's error message.
 */
const UNAVAILABLE_MESSAGES = [
  /Connection terminated (unexpectedly|due to connection timeout)/,
  /Client has encountered a connection error and is not queryable/,
  /Client was closed and is not queryable/,
  /timeout exceeded when trying to connect/,
  /Knex: Timeout acquiring a connection/,
  /Connection ended unexpectedly/,
];

/**
 * Is this error (or its cause, or one of an AggregateError's errors) the database being unavailable?
 * The one place that decides between "503, retry" and "500, a defect".
 */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 4) return false;
  if (err instanceof DatabaseUnavailableError) return true;
  const e = err as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (e.name === 'KnexTimeoutError') return true;
  if (typeof e.code === 'string') {
    if (NETWORK_CODES.has(e.code) || UNAVAILABLE_SQLSTATES.has(e.code) || /^08[0-9A-Z]{3}$/.test(e.code)) return true;
  }
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.some((re) => re.test(e.message as string))) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isDatabaseUnavailable(x, depth + 1))) return true;
  return isDatabaseUnavailable(e.cause, depth + 1);
}

export function statusOf(err: unknown): number {
  if (err instanceof AppError) return err.status;
  return isDatabaseUnavailable(err) ? 503 : 500;
}

/**
 * Confluence hides the page from the Attest app itself (page restrictions that do not include the app):
 * Attest can neither check the version nor record decisions. Said plainly, with what an admin can do.
 */
export class AppCannotReadError extends ConflictError {
  constructor() {
    super(
      'Attest cannot read this page: its restrictions do not include the Attest app. A space admin or the page owner can add ' +
        '"Attest" to the people who can view it (••• → Restrictions); until then approvals here cannot be shown or given.',
    );
  }
}
