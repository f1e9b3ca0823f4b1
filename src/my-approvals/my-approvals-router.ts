import { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { contextJwt, pageJwt, requireUser } from '../confluence/connect-auth';
import type { ConfluenceClient } from '../confluence/confluence-client';
import { asyncHandler, parseInput } from '../lib/http';
import type { MyApproval, MyApprovalsService } from './my-approvals-service';
import type { DelegationOverview, DelegationsService } from './delegations-service';
import { delegationBody } from './my-approvals-schemas';

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
    viaText: i.onBehalfOf
      ? `on behalf of ${i.onBehalfOf.displayName} (out of office through ${i.onBehalfOf.endsOn})`
      : [...(i.via.you ? ['you are listed'] : []), ...i.via.groups.map((g) => `member of ${g}`)].join(', '),
  };
}

/** The delegation overview with people's names (the JSON API and the Out of office panel). */
async function delegationModel(confluence: ConfluenceClient, clientKey: string, o: DelegationOverview) {
  const name = async (id: string) => (await confluence.getUser(clientKey, id).catch(() => null))?.displayName ?? id;
  const one = async (d: NonNullable<DelegationOverview['mine']>) => ({
    id: d.id,
    delegator: { accountId: d.delegatorId, displayName: await name(d.delegatorId) },
    delegate: { accountId: d.delegateId, displayName: await name(d.delegateId) },
    from: d.startsOn,
    to: d.endsOn,
    active: d.active,
  });
  return { mine: o.mine ? await one(o.mine) : null, standingInFor: await Promise.all(o.standingInFor.map(one)) };
}

/** "My approvals" (generalPages; page JWT) and its API (context JWT): what waits on the signed-in user. */
export function createMyApprovalsRouter(opts: { addon: AddOn; service: MyApprovalsService; delegations: DelegationsService; confluence: ConfluenceClient }): Router {
  const { addon, service, delegations, confluence } = opts;
  const router = Router();

  router.get(
    '/my-approvals',
    ...pageJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const [{ items, truncated }, overview] = await Promise.all([service.list(p), delegations.overview(p)]);
      res.render('my-approvals', {
        pageTitle: 'My approvals',
        scripts: ['attest-ap.js', 'my-approvals.js'],
        items: items.map(itemModel),
        overdueCount: items.filter((i) => i.overdue).length,
        truncated,
        delegation: await delegationModel(confluence, p.clientKey, overview),
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

  /** "Out of office" (issue 16): the signed-in person's delegation, and whom they stand in for. */
  router.get(
    '/api/me/delegation',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      res.json(await delegationModel(confluence, p.clientKey, await delegations.overview(p)));
    }),
  );

  /** Names a delegate for a range of days, or changes the current delegation. */
  router.put(
    '/api/me/delegation',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const input = parseInput(delegationBody, req.body);
      const { changed } = await delegations.set(p, input);
      res.json({ changed, ...(await delegationModel(confluence, p.clientKey, await delegations.overview(p))) });
    }),
  );

  /** Ends the current delegation now. */
  router.delete(
    '/api/me/delegation',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      await delegations.end(p);
      res.json(await delegationModel(confluence, p.clientKey, await delegations.overview(p)));
    }),
  );

  return router;
}
