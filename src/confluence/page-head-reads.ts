import { CoalescedReads } from '../lib/coalesced-reads';
import type { Logger } from '../lib/logger';
import { type Settled, settled } from '../lib/settled';
import type { ConfluencePageHead, ContentType } from './confluence-client';
import { CONTENT_ID_PATTERN } from './confluence-ids';

/** The most ids one v2 list call takes (openapi-v2.v3.json: `id` maxItems 250, `limit` maximum 250). */
export const MAX_IDS_PER_READ = 250;

/**
 * Reads of heads out at once before the next ones wait and gather: two decisions at a time keep the single call's
 * latency; a burst waits at most one read of Confluence and then goes as one call.
 */
export const HEAD_READS_IN_FLIGHT = 2;

/** Reads of one tenant's heads of one content type, one id or many. */
export interface HeadSource {
  /** One head: the single-content endpoint, with its 404 (NotFoundError) for what the app cannot see. */
  one(clientKey: string, id: string, type: ContentType): Promise<ConfluencePageHead>;
  /** Many heads in one call (v2 list filtered by `id`): what is missing from the answer is simply absent. */
  many(clientKey: string, ids: string[], type: ContentType): Promise<Map<string, ConfluencePageHead>>;
}

interface HeadKey {
  clientKey: string;
  id: string;
  type: ContentType;
}

type Answer = Settled<ConfluencePageHead>;

const keyId = (k: HeadKey) => JSON.stringify([k.clientKey, k.type, k.id]);

/**
 * Page heads asked for while `maxInFlight` reads of heads are out go to Confluence together (lib/coalesced-reads.ts,
 * as the decisions' workflow reads do): a request that finds fewer out is sent at once, alone as the single-content
 * call it always was; those arriving meanwhile wait, and the next read takes them all, one list call per tenant and
 * content type (up to 250 ids). Nothing is answered from a read sent before it was asked for, so a head is never
 * older than the request that wanted it (a decision checks the page's current version and space with it). An id the
 * list leaves out (restricted from the app, trashed, gone, another type) is read alone, so its answer, a 404
 * included, is the single call's; so is every id of a list call that failed.
 */
export class PageHeadReads {
  private readonly reads: CoalescedReads<HeadKey, Answer>;

  constructor(
    private readonly source: HeadSource,
    private readonly logger: Logger,
    maxInFlight = HEAD_READS_IN_FLIGHT,
  ) {
    this.reads = new CoalescedReads(keyId, (keys) => this.readMany(keys), MAX_IDS_PER_READ, maxInFlight);
  }

  async get(clientKey: string, id: string, type: ContentType): Promise<ConfluencePageHead> {
    // Only ids the list call can take are gathered; anything else is read alone (and answered as the single call does).
    if (!CONTENT_ID_PATTERN.test(id)) return this.source.one(clientKey, id, type);
    const answer = await this.reads.get({ clientKey, id, type });
    if (!answer) throw new Error(`no answer for the head of ${type} ${id}`);
    if (!answer.ok) throw answer.error;
    return answer.value;
  }

  private async readMany(keys: HeadKey[]): Promise<Map<string, Answer>> {
    const groups = new Map<string, HeadKey[]>();
    for (const k of keys) {
      const g = JSON.stringify([k.clientKey, k.type]);
      const group = groups.get(g);
      if (group) group.push(k);
      else groups.set(g, [k]);
    }
    const out = new Map<string, Answer>();
    await Promise.all([...groups.values()].map((group) => this.readGroup(group, out)));
    return out;
  }

  /** One tenant's heads of one type: one list call (or the single call for one id), then alone what it left out. */
  private async readGroup(group: HeadKey[], out: Map<string, Answer>): Promise<void> {
    const { clientKey, type } = group[0];
    let found = new Map<string, ConfluencePageHead>();
    if (group.length > 1) {
      try {
        found = await this.source.many(clientKey, group.map((k) => k.id), type);
      } catch (err) {
        this.logger.warn({ clientKey, ids: group.length, err: (err as Error).message }, 'reading page heads together failed: reading them one by one');
      }
    }
    await Promise.all(
      group.map(async (k) => {
        const hit = found.get(k.id);
        out.set(keyId(k), hit ? { ok: true, value: hit } : await settled(this.source.one(clientKey, k.id, type)));
      }),
    );
  }
}
