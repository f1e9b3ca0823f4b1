import { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { pageJwt } from '../confluence/connect-auth';

/** "My approvals" general page (placeholder until its issue lands). */
export function createMyApprovalsRouter(opts: { addon: AddOn }): Router {
  const router = Router();
  router.get('/my-approvals', ...pageJwt(opts.addon), (_req, res) => {
    res.render('placeholder', { heading: 'My approvals', text: 'Approvals waiting for you will appear here.' });
  });
  return router;
}
