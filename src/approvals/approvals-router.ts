import { Router } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import { pageJwt } from '../confluence/connect-auth';

/** The Approvals macro and its editor (placeholder views until the approvals issue lands). */
export function createApprovalsRouter(opts: { addon: AddOn }): Router {
  const router = Router();
  router.get('/macro', ...pageJwt(opts.addon), (_req, res) => {
    res.render('placeholder', { heading: 'Approvals', text: 'Approvals will appear here.' });
  });
  router.get('/macro-editor', ...pageJwt(opts.addon), (_req, res) => {
    res.render('placeholder', { heading: 'Approvals', text: 'The macro editor will appear here.' });
  });
  return router;
}
