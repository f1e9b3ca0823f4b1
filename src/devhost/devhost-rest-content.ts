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

/** The most ids, and the largest page, v2's list endpoints take (openapi-v2.v3.json: maxItems / maximum 250). */
const MAX_BULK = 250;

export function mountContent(router: Router, ctx: RestContext): void {
  const { store, base, contextPath, logger } = ctx;

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

  /** A page as v2Page shapes it; a blog post without the tree position and parent a BlogPost does not have. */
  function v2Content(req: Request, page: DevPage, v: PageVersion, format: string): Record<string, unknown> {
    const out = v2Page(req, page, v, format);
    if (page.type === 'blogpost') for (const k of ['parentId', 'parentType', 'position', 'ownerId', 'lastOwnerId']) delete out[k];
    return out;
  }

  const v2Single = (type: DevContentType) => (req: Request, res: Response) => {
    const wanted = str(req.query.version);
    const page = pageFor(req.params.id, type, str(req.query.status || 'current,archived').split(','), !!wanted);
    const v = wanted ? versionOf(page, wanted) : store.current(page);
    res.json(v2Content(req, page, v, str(req.query['body-format'])));
  };
  router.get('/api/v2/pages/:id', v2Single('page'));
  router.get('/api/v2/blogposts/:id', v2Single('blogpost'));

  /**
   * v2 "Get pages" / "Get blog posts" filtered by `id`, as Atlassian's v2 spec describes it (sources in
   * docs/confluence-api.md): a comma-separated list of at most 250 ids; `status` current and archived by default;
   * `limit` 25 by default, at most 250; the next page through an opaque `cursor`, in the `Link` header and
   * `_links.next`; results are PageBulk / BlogPostBulk, which carry `spaceId` and `version` as the single read does.
   * "Only pages that the user has permission to view will be returned": content the app cannot see, trashed content
   * and ids of another type are left out without a word.
   * Not confirmed, and nothing in Attest relies on it: repeated `id=` parameters (Atlassian's Forge cost guidance
   * writes the call so, as quoted by a third party); 400 for more than 250 ids or a limit past 250 (the spec lists
   * 400 for "an invalid request", but Confluence might clamp instead: Attest never asks for more); results in the
   * order asked and each id once (Attest maps them by id).
   */
  const v2List = (type: DevContentType) => (req: Request, res: Response) => {
    const raw = req.query.id === undefined ? [] : ([] as unknown[]).concat(req.query.id);
    const ids = raw.flatMap((x) => (typeof x === 'string' ? x.split(',') : [''])).filter((x) => x !== '');
    if (ids.length > MAX_BULK || ids.some((x) => !/^\d+$/.test(x))) throw new DevhostError(400, `id must be at most ${MAX_BULK} numeric ids`);
    const limit = req.query.limit === undefined ? 25 : Number(str(req.query.limit));
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_BULK) throw new DevhostError(400, `limit must be a whole number from 1 to ${MAX_BULK}`);
    const statuses = str(req.query.status || 'current,archived').split(',');
    const offset = Number.parseInt(Buffer.from(str(req.query.cursor), 'base64url').toString() || '0', 10) || 0;
    const visible = (p: DevPage | undefined): p is DevPage => !!p && p.type === type && store.appCanSee(p) && statuses.includes(p.status);
    const all = (ids.length ? [...new Set(ids)].map((id) => store.page(id)) : store.state.pages).filter(visible);
    const results = all.slice(offset, offset + limit).map((p) => v2Content(req, p, store.current(p), str(req.query['body-format'])));
    const links: Record<string, string> = { base: base(req) };
    if (offset + limit < all.length) {
      const next = new URLSearchParams({ ...(ids.length ? { id: ids.join(',') } : {}), status: statuses.join(','), limit: String(limit), cursor: Buffer.from(String(offset + limit)).toString('base64url') });
      links.next = `${contextPath(req)}/api/v2/${type === 'page' ? 'pages' : 'blogposts'}?${next}`;
      res.set('Link', `<${links.next}>; rel="next", <${links.base}>; rel="base"`);
    }
    res.json({ results, _links: links });
  };
  router.get('/api/v2/pages', v2List('page'));
  router.get('/api/v2/blogposts', v2List('blogpost'));

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
