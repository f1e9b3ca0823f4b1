import { Batches, Settled } from '../lib/batches';
import type { Logger } from '../lib/logger';
import type { ConfluencePageHead, ContentType } from './confluence-client';
import { CONTENT_ID_PATTERN } from './confluence-ids';

/** The most ids one v2 list call takes (openapi-v2.v3.json: `id` maxItems 250, `limit` maximum 250). */
export const MAX_IDS_PER_READ = 250;

/** Reads of one tenant's heads of one content type, one id or many. */
export interface HeadSource {
  /** One head: the single-content endpoint, with its 404 (NotFoundError) for what the app cannot see. */
  one(clientKey: string, id: string, type: ContentType): Promise<ConfluencePageHead>;
  /** Many heads in one call (v2 list filtered by `id`): what is missing from the answer is simply absent. */
  many(clientKey: string, ids: string[], type: ContentType): Promise<Map<string, ConfluencePageHead>>;
}

/**
 * Page heads asked for while others are being read go to Confluence together (group reads, as decisions are
 * group-committed: lib/batches.ts). A lone request is sent at once, as the single-content call it always was;
 * requests arriving while `maxConcurrent` reads of that tenant and type are in flight wait, and the next read
 * takes all of them (up to 250) in one list call. Nothing is answered from a read sent before it was asked for,
 * so a head is never older than the request that wanted it (a decision checks the page's current version and
 * space with it). An id the list leaves out (restricted from the app, trashed, gone, another type) is read alone,
 * so its answer, a 404 included, is the single call's; so is every id of a list call that failed.
 */
export class PageHeadReads {
  private readonly batches: Batches<string, ConfluencePageHead>;

  constructor(
    private readonly source: HeadSource,
    private readonly logger: Logger,
    opts: { maxConcurrent?: number } = {},
  ) {
    this.batches = new Batches((key, ids) => this.read(key, ids), { maxBatch: MAX_IDS_PER_READ, maxConcurrent: opts.maxConcurrent ?? 2 });
  }

  get(clientKey: string, id: string, type: ContentType): Promise<ConfluencePageHead> {
    // Only ids the list call can take are gathered; anything else is read alone (and answered as the single call does).
    if (!CONTENT_ID_PATTERN.test(id)) return this.source.one(clientKey, id, type);
    return this.batches.submit(JSON.stringify([clientKey, type]), id);
  }

  private async read(key: string, ids: string[]): Promise<Array<Settled<ConfluencePageHead>>> {
    const [clientKey, type] = JSON.parse(key) as [string, ContentType];
    const unique = [...new Set(ids)];
    let found = new Map<string, ConfluencePageHead>();
    if (unique.length > 1) {
      try {
        found = await this.source.many(clientKey, unique, type);
      } catch (err) {
        this.logger.warn({ clientKey, ids: unique.length, err: (err as Error).message }, 'reading page heads together failed: reading them one by one');
      }
    }
    const answers = new Map(
      await Promise.all(
        unique.map(async (id): Promise<[string, Settled<ConfluencePageHead>]> => {
          const hit = found.get(id);
          if (hit) return [id, { ok: true, value: hit }];
          return this.source.one(clientKey, id, type).then(
            (value) => [id, { ok: true, value }],
            (error: unknown) => [id, { ok: false, error }],
          );
        }),
      ),
    );
    return ids.map((id) => answers.get(id)!);
  }
}
