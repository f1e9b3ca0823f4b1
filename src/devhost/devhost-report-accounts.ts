import { Router } from 'express';
import { z } from 'zod';
import { verifyAddonJwt } from './devhost-jwt';
import { DevhostError, DevhostStore } from './devhost-state';

/**
 * Emulates Atlassian's personal data reporting API (`POST .../app/report-accounts`), answered at
 * `POST /devhost/app/report-accounts`. Request `{accounts:[{accountId, updatedAt}]}` (≤ 90);
 * answer 200 `{accounts:[{accountId, status:"closed"}]}` for closed accounts, 204 when none, with a
 * `Cycle-Period` header (hours until the next report is due). `rateLimit(s)` makes it answer
 * 429 with `Retry-After: s` until `rateLimit(null)`. The exact Connect host/path is unconfirmed
 * (CONNECT.md), which is why the add-on keeps it behind a configurable base URL.
 */
export interface ReportAccounts {
  /** Every request received, newest last. */
  calls: Array<{ accountIds: string[]; status: number }>;
  /** Marks an account closed (also visible to the REST API: the user can no longer use Confluence). */
  close(accountId: string): void;
  rateLimit(retryAfterSeconds: number | null): void;
  cyclePeriodHours: number;
  router: Router;
}

const body = z.object({
  accounts: z.array(z.object({ accountId: z.string().min(1), updatedAt: z.string().min(1) }).passthrough()).min(1).max(90),
});

export function createReportAccounts(store: DevhostStore, addonKey: string): ReportAccounts {
  let retryAfter: number | null = null;
  const api: ReportAccounts = {
    calls: [],
    cyclePeriodHours: 168,
    close(accountId) {
      const u = store.user(accountId);
      if (u) {
        u.closed = true;
        store.save();
      }
    },
    rateLimit(s) {
      retryAfter = s;
    },
    router: Router(),
  };
  api.router.post('/app/report-accounts', (req, res) => {
    const parsed = body.safeParse(req.body);
    const ids = parsed.success ? parsed.data.accounts.map((a) => a.accountId) : [];
    const answer = (status: number) => {
      api.calls.push({ accountIds: ids, status });
      return res.status(status);
    };
    // As the add-on's REST calls: a JWT of an installed app, qsh over this request (relative to /devhost).
    try {
      verifyAddonJwt(
        { method: req.method, path: req.originalUrl.split('?')[0], query: req.query as Record<string, unknown>, authorization: req.headers.authorization },
        (clientKey) => store.tenant(clientKey),
        addonKey,
        `${req.protocol}://${req.get('host')}${req.baseUrl}`,
      );
    } catch (err) {
      const status = err instanceof DevhostError ? err.statusCode : 401;
      return answer(status).json({ statusCode: status, message: (err as Error).message });
    }
    if (!parsed.success) return answer(400).json({ statusCode: 400, message: 'accounts must be 1 to 90 items of {accountId, updatedAt}' });
    if (retryAfter !== null) return answer(429).set('Retry-After', String(retryAfter)).json({ statusCode: 429, message: 'Rate limit exceeded' });
    res.set('Cycle-Period', String(api.cyclePeriodHours));
    const closed = ids.filter((id) => store.user(id)?.closed);
    if (!closed.length) return answer(204).end();
    return answer(200).json({ accounts: closed.map((accountId) => ({ accountId, status: 'closed' })) });
  });
  return api;
}
