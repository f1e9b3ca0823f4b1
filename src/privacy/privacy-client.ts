import { createQueryStringHash, encodeSymmetric, fromMethodAndUrl, SymmetricAlgorithm } from 'atlassian-jwt';
import { z } from 'zod';
import { UpstreamError } from '../lib/errors';

/** Atlassian asks us to wait: Retry-After seconds. */
export class RateLimitedError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`personal data reporting is rate limited: retry after ${retryAfterSeconds} s`);
    this.name = 'RateLimitedError';
  }
}

export interface ReportedAccount {
  accountId: string;
  /** ISO-8601: when we last stored or changed data about this account. */
  updatedAt: string;
}

export interface ReportResult {
  /** accountIds Atlassian says are closed: erase their data. */
  closed: string[];
  /** Hours until the next report is due (the Cycle-Period header), when given. */
  cyclePeriodHours: number | null;
}

/** Atlassian's personal data reporting API (report-accounts), ≤ 90 accounts per call. */
export interface PrivacyReportClient {
  report(clientKey: string, accounts: ReportedAccount[]): Promise<ReportResult>;
}

export const MAX_ACCOUNTS_PER_REPORT = 90;

const answerSchema = z.object({ accounts: z.array(z.object({ accountId: z.string().min(1), status: z.string() })) });

/** What signs a report as the app, in the context of one installation. */
export interface ReportSigner {
  /** The app's key and the installation's shared secret; null when the tenant is not installed. */
  credentials(clientKey: string): Promise<{ addonKey: string; sharedSecret: string } | null>;
}

const JWT_TTL_S = 180;

/**
 * POSTs `{accounts:[{accountId, updatedAt}]}` to `<baseUrl>/app/report-accounts` in the context of one
 * installation, authenticated as Connect calls are: a JWT (HS256 with that installation's shared secret,
 * `iss` = app key, `aud` = [clientKey], `qsh` over the request). The exact Connect host and path are
 * unconfirmed, hence the configurable base URL; the devhost emulates it and checks the JWT.
 */
export class HttpPrivacyReportClient implements PrivacyReportClient {
  constructor(
    private readonly baseUrl: string,
    private readonly signer: ReportSigner,
  ) {}

  async report(clientKey: string, accounts: ReportedAccount[]): Promise<ReportResult> {
    if (accounts.length < 1 || accounts.length > MAX_ACCOUNTS_PER_REPORT) throw new RangeError('report 1 to 90 accounts at a time');
    const base = this.baseUrl.replace(/\/$/, '');
    const url = `${base}/app/report-accounts`;
    const creds = await this.signer.credentials(clientKey);
    if (!creds) throw new UpstreamError(`personal data reporting: ${clientKey} is not installed`);
    const now = Math.floor(Date.now() / 1000);
    const token = encodeSymmetric(
      {
        iss: creds.addonKey,
        aud: [clientKey],
        iat: now,
        exp: now + JWT_TTL_S,
        qsh: createQueryStringHash(fromMethodAndUrl('POST', url), false, base),
      },
      creds.sharedSecret,
      SymmetricAlgorithm.HS256,
    );
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', Authorization: `JWT ${token}` },
        body: JSON.stringify({ accounts }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new UpstreamError(`personal data reporting could not be reached: ${(err as Error).message}`);
    }
    const period = Number(res.headers.get('cycle-period'));
    const cyclePeriodHours = Number.isFinite(period) && period > 0 ? period : null;
    if (res.status === 429) {
      const retry = Number(res.headers.get('retry-after'));
      await res.arrayBuffer();
      throw new RateLimitedError(Number.isFinite(retry) && retry > 0 ? retry : 60);
    }
    if (res.status === 204) return { closed: [], cyclePeriodHours };
    if (res.status !== 200) {
      await res.arrayBuffer();
      throw new UpstreamError(`personal data reporting answered ${res.status}`);
    }
    const parsed = answerSchema.safeParse(await res.json().catch(() => null));
    if (!parsed.success) throw new UpstreamError('personal data reporting answered 200 with an unexpected body');
    return { closed: parsed.data.accounts.filter((a) => a.status === 'closed').map((a) => a.accountId), cyclePeriodHours };
  }
}
