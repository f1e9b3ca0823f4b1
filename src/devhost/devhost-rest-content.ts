/** Confluence's v2 page, blog post and footer-comment endpoints as the add-on calls them. */
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import { ACCOUNT } from './devhost-seed';
import { DevhostError } from './devhost-state';
import type { DevContentType, DevPage, PageVersion } from './devhost-types';
import { RestContext, str, zodIssues } from './devhost-rest-common';

/** v2 CreateFooterCommentModel: exactly one container id, a storage (or other) body. */
const footerCommentBody = z
  .object({
    pageId: z.string().regex(/^\d+$/).optional(),
    blogPostId: z.string().regex(/^\d+$/).optional(),
    attachmentId: z.string().optional(),
    customContentId: z.string().optional(),
    body: z.object({ representation: z.enum(['storage', 'atlas_doc_format', 'wiki']), value: z.string().min(1) }),
  })
  .passthrough()
  .refine((b) => [b.pageId, b.blogPostId, b.attachmentId, b.customContentId].filter(Boolean).length === 1, 'exactly one container id is required');

const storageBody = z.object({ representation: z.literal('storage'), value: z.string() });
const createPageBody = z
  .object({ spaceId: z.string().regex(/^\d+$/), status: z.enum(['current', 'draft']).optional(), title: z.string().min(1).max(255), parentId: z.string().optional(), body: storageBody })
  .passthrough();
const updatePageBody = z
  .object({
    id: z.string(),
    status: z.enum(['current', 'draft']),
    title: z.string().min(1).max(255),
    body: storageBody,
    version: z.object({ number: z.number().int().positive(), message: z.string().optional() }),
  })
  .passthrough();

export function mountContent(router: Router, ctx: RestContext): void {
  const { store, base, logger } = ctx;

  function webui(page: DevPage, v: PageVersion): string {
    return `/spaces/${page.spaceKey}/${page.type === 'blogpost' ? 'blog' : 'pages'}/${page.id}/${encodeURIComponent(v.title.replace(/\s+/g, '+'))}`;
  }

  /**
   * Content of one type the app may see: current by default, trashed with status=trashed|any, historical
   * with version=N. A page restricted without the app is a 404 as on Confluence; so is another type at that id
   * (as users of v2 report it, not Atlassian's reference: docs/confluence-api.md; Attest ignores a page read made
   * for a blog post).
   */
  function pageFor(id: string, type: DevContentType, statuses: string[], historical: boolean): DevPage {
    const page = store.pageForApp(id);
    if (page.type !== type) throw new DevhostError(404, `No content found with id: ContentId{id=${id}}`);
    const any = statuses.includes('any');
    if (page.status === 'trashed' && !any && !historical && !statuses.includes('trashed')) {
      throw new DevhostError(404, `No content found with id: ContentId{id=${id}}`);
    }
    return page;
  }

  function versionOf(page: DevPage, raw: string): PageVersion {
    const n = Number.parseInt(raw, 10);
    const v = Number.isFinite(n) ? store.version(page, n) : undefined;
    if (!v) throw new DevhostError(404, `No content found with id: ContentId{id=${page.id}} and version ${raw}`);
    return v;
  }

  function v2Page(req: Request, page: DevPage, v: PageVersion, format: string): Record<string, unknown> {
    return {
      id: page.id,
      status: v.number === store.current(page).number ? page.status : 'historical',
      title: v.title,
      spaceId: store.space(page.spaceKey)!.id,
      parentId: null,
      parentType: null,
      position: Number(page.id) % 1000,
      authorId: page.versions[0].authorId,
      ownerId: page.versions[0].authorId,
      lastOwnerId: null,
      createdAt: page.versions[0].createdAt,
      version: { createdAt: v.createdAt, message: v.message, number: v.number, minorEdit: false, authorId: v.authorId },
      body: format === 'storage' ? { storage: { representation: 'storage', value: v.body } } : {},
      _links: { webui: webui(page, v), editui: `/pages/resumedraft.action?draftId=${page.id}`, tinyui: `/x/${Buffer.from(page.id).toString('base64url')}`, base: base(req) },
    };
  }

  const v2Content = (type: DevContentType) => (req: Request, res: Response) => {
    const wanted = str(req.query.version);
    const page = pageFor(req.params.id, type, str(req.query.status || 'current,archived').split(','), !!wanted);
    const v = wanted ? versionOf(page, wanted) : store.current(page);
    const out = v2Page(req, page, v, str(req.query['body-format']));
    if (type === 'blogpost') {
      // BlogPost has no tree position or parent.
      for (const k of ['parentId', 'parentType', 'position', 'ownerId', 'lastOwnerId']) delete out[k];
    }
    res.json(out);
  };
  router.get('/api/v2/pages/:id', v2Content('page'));
  router.get('/api/v2/blogposts/:id', v2Content('blogpost'));

  // v2 spec "Create page": spaceId, status, title, body {representation, value}; 200 with the page. The app
  // writes as itself: the WRITE scope "can create or edit content in Confluence, but not delete them"
  // (developer.atlassian.com/cloud/confluence/scopes-for-connect-apps). The 400 for a title already used in
  // the space is v1 "Create content"'s documented answer; v2's wording of it is unconfirmed.
  router.post('/api/v2/pages', (req, res) => {
    const parsed = createPageBody.safeParse(req.body);
    if (!parsed.success) throw new DevhostError(400, `Invalid page: ${zodIssues(parsed.error)}`);
    const space = store.spaceById(parsed.data.spaceId);
    if (!space) throw new DevhostError(404, `No space found with id ${parsed.data.spaceId}`);
    const page = store.createPage(space.key, parsed.data.title, parsed.data.body.value, ACCOUNT.app);
    logger.info({ pageId: page.id, spaceKey: space.key }, 'devhost: page created');
    res.json(v2Page(req, page, store.current(page), 'storage'));
  });

  // v2 spec "Update page": id, status, title, body, version {number, message}; the number must be the current
  // one plus one. 409 for any other number is what v1 "Update content" documents for a version conflict; the
  // message text here is the devhost's own (unconfirmed for v2).
  router.put('/api/v2/pages/:id', (req, res) => {
    const parsed = updatePageBody.safeParse(req.body);
    if (!parsed.success) throw new DevhostError(400, `Invalid page: ${zodIssues(parsed.error)}`);
    if (parsed.data.id !== req.params.id) throw new DevhostError(400, 'The id in the body does not match the path');
    const page = pageFor(req.params.id, 'page', ['current'], false);
    const current = store.current(page);
    if (parsed.data.version.number !== current.number + 1) {
      throw new DevhostError(409, `Version must be incremented on update. Current version is: ${current.number}`);
    }
    const v = store.editPage(page.id, { body: parsed.data.body.value, title: parsed.data.title, as: ACCOUNT.app, message: parsed.data.version.message ?? '' });
    res.json(v2Page(req, page, v, 'storage'));
  });

  // v2 spec "Create footer comment": one of pageId, blogPostId, attachmentId, customContentId; 201 with the comment.
  router.post('/api/v2/footer-comments', (req, res) => {
    const parsed = footerCommentBody.safeParse(req.body);
    if (!parsed.success) throw new DevhostError(400, `Invalid footer comment: ${zodIssues(parsed.error)}`);
    const { pageId, blogPostId, body } = parsed.data;
    if (!pageId && !blogPostId) throw new DevhostError(400, 'The devhost only comments on pages and blog posts');
    const page = pageFor((pageId ?? blogPostId)!, pageId ? 'page' : 'blogpost', ['current'], false);
    if (page.status !== 'current') throw new DevhostError(400, `Cannot comment on ${page.status} content`);
    const comment = store.addComment(page.id, ACCOUNT.app, body.value);
    logger.info({ pageId: page.id, commentId: comment.id }, 'devhost: comment created');
    res.status(201).json({
      id: comment.id,
      status: 'current',
      title: `Re: ${store.current(page).title}`,
      ...(pageId ? { pageId } : { blogPostId }),
      version: { createdAt: comment.createdAt, message: '', number: 1, minorEdit: false, authorId: ACCOUNT.app },
      body: { storage: { representation: 'storage', value: comment.body } },
      _links: { webui: `${webui(page, store.current(page))}?focusedCommentId=${comment.id}#comment-${comment.id}`, base: base(req) },
    });
  });
}
