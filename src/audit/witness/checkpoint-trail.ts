import { z } from 'zod';
import { CONTENT_ID_PATTERN, SPACE_KEY_PATTERN } from '../../confluence/confluence-ids';
import type { ConfluenceClient } from '../../confluence/confluence-client';
import { NotFoundError, UpstreamError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { WitnessedCheckpoint } from './witness';

/** App property naming the trail page: in the tenant's Confluence, where the database cannot redirect it. */
export const TRAIL_PROPERTY = 'attest-checkpoint-trail';
export const TRAIL_TITLE = 'Attest audit checkpoints';
/** A new version of the page at most this often: every checkpoint in between is in the table it carries. */
export const TRAIL_INTERVAL_MS = 60 * 60 * 1000;

const trailState = z
  .object({
    pageId: z.string().regex(CONTENT_ID_PATTERN),
    spaceKey: z.string().regex(SPACE_KEY_PATTERN),
    url: z.string().nullable(),
    enabledAt: z.string(),
    publishedSeq: z.number().int().nonnegative().nullable(),
    publishedAt: z.string().nullable(),
  })
  .strict();
export type TrailState = z.infer<typeof trailState>;

/** What the Evidence tab shows. */
export interface TrailStatus {
  enabled: boolean;
  spaceKey?: string;
  url?: string | null;
  publishedSeq?: number | null;
  publishedAt?: string | null;
}

const statusOf = (s: TrailState | null): TrailStatus =>
  s ? { enabled: true, spaceKey: s.spaceKey, url: s.url, publishedSeq: s.publishedSeq, publishedAt: s.publishedAt } : { enabled: false };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The page's storage-format body: what it is, how to use it, the key id, and the checkpoints the witness
 * holds (newest first). Every value is hex, a number or an ISO time, escaped all the same.
 */
export function trailBody(keyId: string, checkpoints: WitnessedCheckpoint[]): string {
  const rows = [...checkpoints]
    .sort((a, b) => b.seq - a.seq)
    .map((c) => `<tr><td>${c.seq}</td><td><code>${esc(c.chainHash)}</code></td><td>${esc(c.signedAt)}</td><td><code>${esc(c.keyId.slice(0, 16))}…</code></td></tr>`)
    .join('');
  return [
    '<p>This page is written by the <strong>Attest</strong> app. Each version of it records the audit checkpoints Attest had ',
    'signed and stored in this site when the version was written: for each, the event (seq) it covers up to and the chain ',
    'hash of the audit trail at that event. Attest holds no permission to delete pages or page versions, so the page ',
    'history is a record its operator cannot take back: compare the history with any evidence pack you are given.</p>',
    `<p>Checkpoint signing key id: <code>${esc(keyId)}</code></p>`,
    '<p>To check an evidence pack against this page: <code>attest verify pack.zip --key-id ',
    esc(keyId),
    '</code>; the row of the pack with a seq listed here must carry the same chain hash.</p>',
    rows
      ? `<table><tbody><tr><th>Event (seq)</th><th>Chain hash</th><th>Signed at (UTC)</th><th>Key id</th></tr>${rows}</tbody></table>`
      : '<p>No checkpoint signed yet.</p>',
  ].join('');
}

/**
 * The human-visible checkpoint trail: a page in a space a site admin chooses, to which Attest adds a version
 * (at most hourly, with the witnessed checkpoints) after it signs. Its page id lives in an app property (not the
 * database). A failure here never stops a checkpoint: the app properties remain the witness the signer
 * trusts; the page is for people, and the next checkpoint tries again.
 */
export class CheckpointTrail {
  constructor(
    private readonly deps: {
      confluence: Pick<ConfluenceClient, 'getAppProperty' | 'putAppProperty' | 'createPage' | 'updatePage' | 'getPage'>;
      /** The checkpoints the Confluence witness holds for the tenant (oldest first). */
      history: (clientKey: string) => Promise<WitnessedCheckpoint[]>;
      keyId: string;
      logger: Logger;
      intervalMs?: number;
    },
  ) {}

  async state(clientKey: string): Promise<TrailState | null> {
    let raw: unknown;
    try {
      raw = await this.deps.confluence.getAppProperty(clientKey, TRAIL_PROPERTY);
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
    const parsed = trailState.safeParse(raw);
    return parsed.success ? parsed.data : null;
  }

  async status(clientKey: string): Promise<TrailStatus> {
    return statusOf(await this.state(clientKey));
  }

  /** Creates the trail page in `spaceKey` (once per site: an enabled trail is returned as it is). */
  async enable(clientKey: string, spaceKey: string, now: Date): Promise<{ status: TrailStatus; created: boolean }> {
    const existing = await this.state(clientKey);
    if (existing) return { status: statusOf(existing), created: false };
    const history = await this.deps.history(clientKey);
    let page;
    try {
      page = await this.deps.confluence.createPage(clientKey, { spaceKey, title: TRAIL_TITLE, storageBody: trailBody(this.deps.keyId, history) });
    } catch (err) {
      if (err instanceof UpstreamError && /answered 400/.test(err.message)) {
        throw new UpstreamError(`Confluence would not create the page "${TRAIL_TITLE}" in space ${spaceKey}: a page of that title may exist there already. Rename or move it, then try again.`);
      }
      throw err;
    }
    const last = history[history.length - 1] ?? null;
    const state: TrailState = { pageId: page.id, spaceKey, url: page.url, enabledAt: now.toISOString(), publishedSeq: last?.seq ?? null, publishedAt: now.toISOString() };
    await this.deps.confluence.putAppProperty(clientKey, TRAIL_PROPERTY, state);
    this.deps.logger.info({ clientKey, pageId: page.id, spaceKey }, 'checkpoint trail page created');
    return { status: statusOf(state), created: true };
  }

  /**
   * After a checkpoint was witnessed: a new version of the page when the trail is on, the checkpoint is newer
   * than the last one published and the last version is older than the interval. Never throws.
   */
  async publish(clientKey: string, seq: number, now: Date): Promise<'published' | 'off' | 'later' | 'failed'> {
    try {
      const state = await this.state(clientKey);
      if (!state) return 'off';
      if (state.publishedSeq !== null && seq <= state.publishedSeq) return 'later';
      if (state.publishedAt && now.getTime() - Date.parse(state.publishedAt) < (this.deps.intervalMs ?? TRAIL_INTERVAL_MS)) return 'later';
      const history = await this.deps.history(clientKey);
      const current = await this.deps.confluence.getPage(clientKey, state.pageId, { type: 'page' });
      const last = history[history.length - 1];
      await this.deps.confluence.updatePage(clientKey, state.pageId, {
        title: current.title || TRAIL_TITLE,
        storageBody: trailBody(this.deps.keyId, history),
        version: current.version + 1,
        message: last ? `Checkpoint at event ${last.seq}, signed ${last.signedAt}` : 'Checkpoints',
      });
      await this.deps.confluence.putAppProperty(clientKey, TRAIL_PROPERTY, { ...state, publishedSeq: last?.seq ?? state.publishedSeq, publishedAt: now.toISOString() });
      return 'published';
    } catch (err) {
      this.deps.logger.warn({ clientKey, seq, err: (err as Error).message }, 'checkpoint trail page not updated (the checkpoint itself is witnessed); retried after the next checkpoint');
      return 'failed';
    }
  }
}
