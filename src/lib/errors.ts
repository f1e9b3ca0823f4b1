/** Typed errors that carry their HTTP status; one middleware turns them into responses. */
export class AppError extends Error {
  readonly status: number = 500;
  constructor(message: string) {
    super(message);
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
}

export function statusOf(err: unknown): number {
  return err instanceof AppError ? err.status : 500;
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
