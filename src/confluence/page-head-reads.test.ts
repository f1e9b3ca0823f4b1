import { NotFoundError, UpstreamError } from '../lib/errors';
import { silentLogger } from '../lib/logger';
import type { ConfluencePageHead, ContentType } from './confluence-client';
import { HeadSource, PageHeadReads } from './page-head-reads';

const head = (id: string, version = 1): ConfluencePageHead => ({
  id, type: 'page', title: `Page ${id}`, spaceId: '9', spaceKey: 'ENG', version, versionAuthorId: null, versionCreatedAt: null,
});

/** A Confluence whose reads finish when the test says so; `hidden` ids are left out of list answers and 404 alone. */
function controlledSource(hidden = new Set<string>()) {
  const calls: Array<{ kind: 'one' | 'many'; clientKey: string; ids: string[]; type: ContentType; finish(): void; fail(err: Error): void }> = [];
  const versions = new Map<string, number>();
  const source: HeadSource = {
    // Confluence answers with the page as it is when the call reaches it (here: when the call is made).
    one: (clientKey, id, type) => {
      const now = head(id, versions.get(id) ?? 1);
      return new Promise((resolve, reject) =>
        calls.push({ kind: 'one', clientKey, ids: [id], type, finish: () => (hidden.has(id) ? reject(new NotFoundError(`no ${id}`)) : resolve(now)), fail: reject }),
      );
    },
    many: (clientKey, ids, type) => {
      const now = new Map(ids.filter((id) => !hidden.has(id)).map((id) => [id, head(id, versions.get(id) ?? 1)]));
      return new Promise((resolve, reject) => calls.push({ kind: 'many', clientKey, ids, type, finish: () => resolve(now), fail: reject }));
    },
  };
  return { calls, source, versions };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('PageHeadReads (heads asked for together, read together)', () => {
  it('reads a lone head with the single call, and gathers the heads asked for meanwhile into one list call', async () => {
    const { calls, source } = controlledSource();
    const reads = new PageHeadReads(source, silentLogger(), 1);
    const first = reads.get('ck', '1', 'page');
    await tick();
    expect(calls.map((c) => [c.kind, c.ids])).toEqual([['one', ['1']]]);
    const later = ['2', '3', '2', '4'].map((id) => reads.get('ck', id, 'page'));
    await tick();
    expect(calls).toHaveLength(1); // nothing more goes while the first read is in flight
    calls[0].finish();
    expect(await first).toEqual(head('1'));
    await tick();
    // The same id asked twice is read once and answers both.
    expect(calls.map((c) => [c.kind, c.ids])).toEqual([['one', ['1']], ['many', ['2', '3', '4']]]);
    calls[1].finish();
    expect((await Promise.all(later)).map((h) => h.id)).toEqual(['2', '3', '2', '4']);
  });

  it('never answers a head from a read sent before it was asked for', async () => {
    const { calls, source, versions } = controlledSource();
    const reads = new PageHeadReads(source, silentLogger(), 1);
    const before = reads.get('ck', '5', 'page');
    await tick();
    // The page is edited while that read is in flight; a decision arriving now must see the new version.
    versions.set('5', 2);
    const after = reads.get('ck', '5', 'page');
    await tick();
    calls[0].finish();
    expect((await before).version).toBe(1);
    await tick();
    expect(calls).toHaveLength(2);
    calls[1].finish();
    expect((await after).version).toBe(2);
  });

  it('reads alone, with the single call’s answer, an id the list left out; and every id when the list call failed', async () => {
    const { calls, source } = controlledSource(new Set(['7']));
    const reads = new PageHeadReads(source, silentLogger(), 1);
    const lone = reads.get('ck', '1', 'page');
    await tick();
    const gathered = ['6', '7'].map((id) => reads.get('ck', id, 'page').then((h) => h.id, (e: Error) => e));
    calls[0].finish();
    await lone;
    await tick();
    calls[1].finish(); // the list answers 6 only
    await tick();
    expect(calls.slice(2).map((c) => [c.kind, c.ids])).toEqual([['one', ['7']]]);
    calls[2].finish();
    const [six, seven] = await Promise.all(gathered);
    expect(six).toBe('6');
    expect(seven).toBeInstanceOf(NotFoundError);

    const inFlight = reads.get('ck', '10', 'page');
    await tick();
    const again = ['8', '9'].map((id) => reads.get('ck', id, 'page'));
    await tick();
    calls[calls.length - 1].finish();
    await inFlight;
    await tick();
    const listCall = calls[calls.length - 1];
    expect([listCall.kind, listCall.ids]).toEqual(['many', ['8', '9']]);
    listCall.fail(new UpstreamError('Confluence answered 400 for GET /api/v2/pages'));
    await tick();
    await tick();
    const singles = calls.slice(calls.indexOf(listCall) + 1);
    expect(singles.map((c) => [c.kind, c.ids])).toEqual([['one', ['8']], ['one', ['9']]]);
    singles.forEach((c) => c.finish());
    expect((await Promise.all(again)).map((h) => h.id)).toEqual(['8', '9']);
  });

  it('keeps tenants and content types apart, and reads an id the list cannot take alone', async () => {
    const { calls, source } = controlledSource();
    const reads = new PageHeadReads(source, silentLogger(), 1);
    const first = reads.get('a', '1', 'page');
    await tick();
    const asked = [reads.get('a', '2', 'page'), reads.get('b', '2', 'page'), reads.get('a', '3', 'page'), reads.get('a', '2', 'blogpost'), reads.get('a', 'x/../1', 'page')];
    await tick();
    calls[0].finish();
    await first;
    await tick();
    expect(calls.map((c) => [c.kind, c.clientKey, c.type, c.ids])).toEqual([
      ['one', 'a', 'page', ['1']],
      ['one', 'a', 'page', ['x/../1']], // not gathered: sent at once
      ['many', 'a', 'page', ['2', '3']],
      ['one', 'b', 'page', ['2']],
      ['one', 'a', 'blogpost', ['2']],
    ]);
    calls.slice(1).forEach((c) => c.finish());
    expect((await Promise.all(asked)).map((h) => h.id)).toEqual(['2', '2', '3', '2', 'x/../1']);
  });

  it('sends at once while fewer than two reads are out (HEAD_READS_IN_FLIGHT), and gathers beyond them', async () => {
    const { calls, source } = controlledSource();
    const reads = new PageHeadReads(source, silentLogger());
    const asked = ['1', '2', '3', '4'].map((id) => reads.get('ck', id, 'page'));
    await tick();
    expect(calls.map((c) => [c.kind, c.ids])).toEqual([['one', ['1']], ['one', ['2']]]);
    calls[0].finish();
    await tick();
    expect(calls.map((c) => [c.kind, c.ids])).toEqual([['one', ['1']], ['one', ['2']], ['many', ['3', '4']]]);
    calls.slice(1).forEach((c) => c.finish());
    expect((await Promise.all(asked)).map((h) => h.id)).toEqual(['1', '2', '3', '4']);
  });
});
