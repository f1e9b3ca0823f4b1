import { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { pageJwt } from '../confluence/connect-auth';

/** Space tools tab (placeholder until the space settings issue lands). */
export function createSpacesRouter(opts: { addon: AddOn }): Router {
  const router = Router();
  router.get('/space-settings', ...pageJwt(opts.addon), (_req, res) => {
    res.render('placeholder', { heading: 'Attest', text: 'Space settings will appear here.' });
  });
  return router;
}
