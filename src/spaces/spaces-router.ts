import { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { STATE_LABELS } from '../approvals/approval-rules';
import { z } from 'zod';
import type { ConfluenceClient } from '../confluence/confluence-client';
import { contextJwt, pageJwt, requireUser } from '../confluence/connect-auth';
import { asyncHandler, parseInput } from '../lib/http';
import { displayNames } from '../approvals/approvals-presenter';
import type { SpaceDashboardService } from './space-dashboard-service';
import type { SpaceSettingsService, SpaceSettingsView } from './space-settings-service';
import { moment } from '../approvals/approvals-presenter';
import { DASHBOARD_STATES, settingsBody, spaceKeyParams, workflowsQuery } from './spaces-schemas';

/** The module iframe's query: Connect adds its own parameters (xdm_e, cp, lic, …) beside ours. */
const screenQuery = z.object({ spaceKey: spaceKeyParams.shape.spaceKey }).passthrough();

/** The dashboard's filters: the states as named everywhere, and Overdue (open and past its due date). */
const FILTER_LABELS: Record<string, string> = {
  overdue: 'Overdue',
  ...Object.fromEntries(Object.entries(STATE_LABELS).map(([state, { label }]) => [state, label])),
};

type RouterOpts = {
  addon: AddOn;
  settings: SpaceSettingsService;
  dashboard: SpaceDashboardService;
  confluence: ConfluenceClient;
  /** The checkpoint signing key's id, shown to admins from the running process (never read from the database). */
  checkpointKeyId: string;
};

/** The settings as the screen and the API show them, with people's names. */
async function settingsJson(confluence: ConfluenceClient, clientKey: string, v: SpaceSettingsView) {
  const names = await displayNames(confluence, clientKey, [...v.settings.defaults.approvers, ...(v.updatedBy ? [v.updatedBy] : [])]);
  return {
    spaceKey: v.spaceKey,
    settings: v.settings,
    saved: v.saved,
    updatedAt: v.updatedAt?.toISOString() ?? null,
    updatedBy: v.updatedBy ? { accountId: v.updatedBy, displayName: names.get(v.updatedBy) ?? v.updatedBy } : null,
    people: v.settings.defaults.approvers.map((accountId) => ({ accountId, displayName: names.get(accountId) ?? accountId })),
    locked: v.locked,
  };
}

/**
 * Space tools tab "Attest" (page JWT, space admins only) and its API (context JWT; every call checks
 * that the user administers the space in the URL — the token itself says nothing about that).
 */
export function createSpacesRouter(opts: RouterOpts): Router {
  const router = Router();
  screenRoute(router, opts);
  apiRoutes(router, opts);
  return router;
}

/** The space tools tab. */
function screenRoute(router: Router, opts: RouterOpts): void {
  const { addon, settings, confluence } = opts;
  router.get(
    '/space-settings',
    ...pageJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { spaceKey } = parseInput(screenQuery, req.query);
      const json = await settingsJson(confluence, p.clientKey, await settings.get(p, spaceKey));
      const s = json.settings;
      res.render('space-settings', {
        pageTitle: `Attest · ${spaceKey}`,
        scripts: ['attest-ap.js', 'attest-picker.js', 'space-settings.js', 'evidence-export.js', 'calendar-feed.js'],
        spaceKey,
        s,
        exportRoleLocked: json.locked.includes('exportRole'),
        checkpointKeyId: opts.checkpointKeyId,
        people: json.people,
        quorum: s.defaults.quorum ?? '',
        dueOffsetDays: s.defaults.dueOffsetDays ?? '',
        reviewDays: s.defaults.reviewDays ?? '',
        updatedBy: json.updatedBy?.displayName ?? null,
        updatedAt: moment(json.updatedAt),
        filters: [{ value: '', label: 'All' }, ...DASHBOARD_STATES.map((v) => ({ value: v, label: FILTER_LABELS[v] }))],
      });
    }),
  );
}

/** The settings and dashboard API. */
function apiRoutes(router: Router, opts: RouterOpts): void {
  const { addon, settings, dashboard, confluence } = opts;

  router.get(
    '/api/spaces/:spaceKey/settings',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { spaceKey } = parseInput(spaceKeyParams, req.params);
      res.json(await settingsJson(confluence, p.clientKey, await settings.get(p, spaceKey)));
    }),
  );

  router.put(
    '/api/spaces/:spaceKey/settings',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { spaceKey } = parseInput(spaceKeyParams, req.params);
      // Authorise before validating: a non-admin learns nothing about the expected shape.
      await settings.assertSpaceAdmin(p, spaceKey);
      const body = parseInput(settingsBody, req.body);
      const v = await settings.update(p, spaceKey, body);
      res.json({ ...(await settingsJson(confluence, p.clientKey, v)), changed: v.changed });
    }),
  );

  router.get(
    '/api/spaces/:spaceKey/workflows',
    ...contextJwt(addon),
    asyncHandler(async (req, res) => {
      const p = requireUser(req);
      const { spaceKey } = parseInput(spaceKeyParams, req.params);
      await settings.assertSpaceAdmin(p, spaceKey);
      const q = parseInput(workflowsQuery, req.query);
      res.json(await dashboard.list(p, spaceKey, q));
    }),
  );
}
