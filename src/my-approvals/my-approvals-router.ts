import { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { contextJwt, pageJwt, requireUser } from '../confluence/connect-auth';
import { asyncHandler } from '../lib/http';
import type { MyApproval, MyApprovalsService } from './my-approvals-service';

const STATE = {
  pending: { label: 'Pending', tone: 'inprogress' },
  outdated: { label: 'Page changed', tone: 'moved' },
  expired: { label: 'Expired', tone: 'moved' },
} as Record<string, { label: string; tone: string }>;

function itemModel(i: MyApproval) {
  const s = STATE[i.state] ?? { label: i.state, tone: 'default' };
  return {
    ...i,
    stateLabel: s.label,
    stateTone: s.tone,
    viaText: [...(i.via.you ? ['you are listed'] : []), ...i.via.groups.map((g) => `member of ${g}`)].join(', '),
  };
}

/** "My approvals" (generalPages; page JWT) and its API (context JWT): what waits on the signed-in user. */
export function createMyApprovalsRouter(opts: { addon: AddOn; service: MyApprovalsService }): Router {
  const { addon, service } = opts;
  const router = Router();

  router.get(
    '/my-approvals',
    ...pageJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { items, truncated } = await service.list(p);
      res.render('my-approvals', {
        pageTitle: 'My approvals',
        scripts: ['attest-ap.js', 'my-approvals.js'],
        items: items.map(itemModel),
        overdueCount: items.filter((i) => i.overdue).length,
        truncated,
      });
    }),
  );

  router.get(
    '/api/me/approvals',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      res.json(await service.list(p));
    }),
  );

  return router;
}
