import { canonicalText, chainHash, genesisHash, leafHash } from '../audit/audit-format';
import type { EvidenceEvent } from '../evidence/evidence-csv';
import type { ReportBuilder, ReportEvent } from './report-model';
import { ChainWalk, toReportEvent } from './report-walk';

/** Rows of tenant t1 from genesis, hashed by audit-format (the reference the walk's one-shot hashes are held to). */
function rows(texts: string[]): EvidenceEvent[] {
  let prev = genesisHash('t1');
  return texts.map((canonical, i) => {
    const leaf = leafHash(canonical);
    const chain = chainHash(prev, leaf);
    prev = chain;
    return { seq: i + 1, canonical, leafHash: leaf.toString('hex'), chainHash: chain.toString('hex'), accountId: null, saltHex: null };
  });
}
const event = (seq: number, action = 'decision.approved') =>
  canonicalText({ v: 1, tenant: 't1', seq, at: `2027-03-0${seq}T00:00:00.000Z`, action, space: 'ENG', page: { id: '7', title: 'Runbook', version: 1, bodyHash: null }, actor: { type: 'user', ref: 'a'.repeat(64) }, workflow: 'w1', data: {} });

function walk(events: EvidenceEvent[], parsed: unknown[] = []) {
  const added: ReportEvent[] = [];
  const w = new ChainWalk({ clientKey: 't1', end: 100, spaces: null, checkpoints: new Set([2]), builder: { add: (e: ReportEvent) => added.push(e) } as unknown as ReportBuilder });
  events.forEach((e, i) => w.push(e, parsed[i]));
  return { chain: w.end(events.length), added, chainAt: w.chainAt };
}

describe("the report's pass over the chain", () => {
  it('re-hashes and links every row from genesis, notes the chain hash at a checkpoint, and hands each event on', () => {
    const events = rows([event(1), event(2), event(3)]);
    const r = walk(events);
    expect(r.chain).toEqual({ rows: 3, lastSeq: 3, ok: true, failure: null });
    expect(r.added.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(r.chainAt.get(2)).toBe(events[1].chainHash);
  });

  it('names a canonical text that no longer hashes to its leaf, and a chain hash that does not follow', () => {
    const leafBroken = rows([event(1), event(2)]);
    leafBroken[1] = { ...leafBroken[1], canonical: event(2, 'decision.rejected') };
    expect(walk(leafBroken).chain.failure).toEqual({ seq: 2, reason: 'its leaf hash does not recompute from its canonical text' });
    const linkBroken = rows([event(1), event(2)]);
    linkBroken[1] = { ...linkBroken[1], chainHash: 'f'.repeat(64) };
    expect(walk(linkBroken).chain.failure).toEqual({ seq: 2, reason: 'its chain hash does not follow from the row before' });
  });

  it('takes the object the export already parsed from the same text instead of parsing it again', () => {
    const [e] = rows([event(1)]);
    const parsed = JSON.parse(e.canonical!) as Record<string, unknown>;
    expect(toReportEvent(e, parsed)).toEqual(toReportEvent(e));
    // The object is the one read: an export hands over the parse of this very text, never another's.
    expect(toReportEvent(e, { ...parsed, action: 'page.moved' })!.action).toBe('page.moved');
  });

  it.each(['null', '[1]', '5', 'not json', '{"at":"2027-03-01T00:00:00Z"}'])('fails a row whose text %s is not an audit event, without throwing', (text) => {
    const r = walk(rows([event(1), text]));
    expect(r.chain.failure).toEqual({ seq: 2, reason: 'its canonical text is not an audit event' });
    expect(r.added).toHaveLength(1);
  });
});
