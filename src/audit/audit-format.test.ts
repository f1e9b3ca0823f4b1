import { createHash } from 'node:crypto';
import {
  CanonicalEvent,
  ChainRow,
  canonicalText,
  chainHash,
  genesisHash,
  leafHash,
  nonJsonPath,
  subjectRef,
  verifyRows,
} from './audit-format';

// Expected values are computed here with node:crypto directly, not through the module under test.
const sha = (...parts: Array<Buffer | string>) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? Buffer.from(p, 'utf8') : p);
  return h.digest();
};

const K = 'tenant-key-1';

function event(seq: number, over: Partial<CanonicalEvent> = {}): CanonicalEvent {
  return {
    v: 1,
    tenant: K,
    seq,
    at: `2026-11-26T10:00:${String(seq % 60).padStart(2, '0')}.000123Z`,
    action: 'workflow.created',
    actor: { type: 'user', ref: 'ab'.repeat(32) },
    space: 'DOC',
    page: { id: '98305', version: 3, title: 'Release plan', bodyHash: 'cd'.repeat(32) },
    workflow: 'wf-1',
    data: { rule: 'all' },
    ...over,
  };
}

/** A valid chain of `n` rows built by hand (independent hashing). */
function chain(n: number, clientKey = K): ChainRow[] {
  const rows: ChainRow[] = [];
  let prev = sha(`attest-audit-v1\n${clientKey}`);
  for (let seq = 1; seq <= n; seq++) {
    const doc = event(seq, { tenant: clientKey });
    const canonical = canonicalText(doc);
    const leaf = sha(Buffer.from([0]), canonical);
    const ch = sha(Buffer.from([1]), prev, leaf);
    rows.push({
      seq,
      recordedAt: doc.at,
      action: doc.action,
      spaceKey: doc.space,
      pageId: doc.page?.id ?? null,
      workflowId: doc.workflow,
      actorRef: doc.actor.ref,
      canonical,
      leafHash: leaf,
      chainHash: ch,
    });
    prev = ch;
  }
  return rows;
}

async function* iter<T>(items: T[]): AsyncGenerator<T> {
  for (const i of items) yield i;
}

describe('canonical text (RFC 8785)', () => {
  it('orders keys by UTF-16 code units and writes the event without whitespace', () => {
    expect(canonicalText(event(7))).toBe(
      '{"action":"workflow.created","actor":{"ref":"' +
        'ab'.repeat(32) +
        '","type":"user"},"at":"2026-11-26T10:00:07.000123Z","data":{"rule":"all"},' +
        '"page":{"bodyHash":"' +
        'cd'.repeat(32) +
        '","id":"98305","title":"Release plan","version":3},"seq":7,"space":"DOC","tenant":"tenant-key-1","v":1,"workflow":"wf-1"}',
    );
  });

  it('sorts non-ASCII keys as RFC 8785 §3.2.3 does', () => {
    const data = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
    const text = canonicalText(event(1, { data }));
    // Read the order from the text: JSON.parse would put the integer-like key "1" first again.
    expect(text).toContain(
      '"data":{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('escapes strings and writes numbers as RFC 8785 §3.2.2 does', () => {
    const data = {
      numbers: [333333333.33333329, 1e30, 4.5, 2e-3, 0.000000000000000000000000001],
      string: '\u20ac$\u000F\u000aA\'\u0042\u0022\u005c\\"/',
      literals: [null, true, false],
    };
    const text = canonicalText(event(1, { data }));
    expect(text).toContain(
      '"data":{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('keeps null for absent space, page and workflow', () => {
    const text = canonicalText(event(2, { space: null, page: null, workflow: null, actor: { type: 'system', ref: null } }));
    expect(text).toContain('"actor":{"ref":null,"type":"system"}');
    expect(text).toContain('"page":null');
    expect(text).toContain('"space":null');
    expect(text).toContain('"workflow":null');
  });
});

describe('hashes', () => {
  const canonical = canonicalText(event(1));

  it('leaf = SHA-256(0x00 ‖ utf8(canonical))', () => {
    expect(leafHash(canonical).toString('hex')).toBe(sha(Buffer.from([0]), canonical).toString('hex'));
    // A known vector: the leaf of the empty object.
    expect(leafHash('{}').toString('hex')).toBe(
      createHash('sha256').update(Buffer.from('007b7d', 'hex')).digest('hex'),
    );
  });

  it('chain = SHA-256(0x01 ‖ prev ‖ leaf) over raw bytes', () => {
    const prev = Buffer.alloc(32, 0x11);
    const leaf = Buffer.alloc(32, 0x22);
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from([1]), prev, leaf]))
      .digest('hex');
    expect(chainHash(prev, leaf).toString('hex')).toBe(expected);
    expect(() => chainHash(Buffer.alloc(31), leaf)).toThrow();
  });

  it('genesis = SHA-256("attest-audit-v1\\n" + clientKey)', () => {
    expect(genesisHash('abc').toString('hex')).toBe(
      createHash('sha256').update('attest-audit-v1\nabc').digest('hex'),
    );
    expect(genesisHash('abc').equals(genesisHash('abd'))).toBe(false);
  });

  it('ref = hex SHA-256(salt ‖ utf8(accountId))', () => {
    const salt = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const accountId = '557058:f1e2d3c4-0000-4000-8000-00000000abcd';
    expect(subjectRef(salt, accountId)).toBe(sha(salt, accountId).toString('hex'));
    expect(subjectRef(salt, accountId)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('nonJsonPath', () => {
  it('accepts plain JSON and names the first value that is not', () => {
    expect(nonJsonPath({ a: [1, 'x', null, true, { b: 2.5 }] })).toBeNull();
    expect(nonJsonPath({ a: [1, NaN] })).toBe('$.a[1]');
    expect(nonJsonPath({ a: undefined })).toBe('$.a');
    expect(nonJsonPath({ d: new Date() })).toBe('$.d');
    expect(nonJsonPath({ n: 10n })).toBe('$.n');
    expect(nonJsonPath({ s: 'bad \ud800 surrogate' })).toBe('$.s');
    expect(nonJsonPath({ s: 'fine \ud83d\ude00' })).toBeNull();
  });
});

describe('verifyRows', () => {
  it('accepts a valid chain and reports its head', async () => {
    const rows = chain(5);
    const res = await verifyRows(K, iter(rows), { head: { seq: 5, chainHash: rows[4].chainHash } });
    expect(res).toEqual({ ok: true, rows: 5, firstSeq: 1, lastSeq: 5, head: rows[4].chainHash.toString('hex') });
  });

  it('accepts an empty chain', async () => {
    expect(await verifyRows(K, iter([]), { head: null })).toEqual({
      ok: true,
      rows: 0,
      firstSeq: null,
      lastSeq: null,
      head: genesisHash(K).toString('hex'),
    });
  });

  it('verifies a range that starts after seq 1 from the previous chain hash', async () => {
    const rows = chain(6);
    const res = await verifyRows(K, iter(rows.slice(2, 4)), { fromSeq: 3, toSeq: 4, prevChainHash: rows[1].chainHash });
    expect(res).toMatchObject({ ok: true, rows: 2, firstSeq: 3, lastSeq: 4 });
    const wrongStart = await verifyRows(K, iter(rows.slice(2, 4)), { fromSeq: 3, prevChainHash: rows[0].chainHash });
    expect(wrongStart).toEqual({ ok: false, seq: 3, reason: 'seq 3: chain hash does not follow from seq 2' });
  });

  it('names a missing seq', async () => {
    const rows = chain(5);
    rows.splice(2, 1);
    expect(await verifyRows(K, iter(rows))).toEqual({ ok: false, seq: 3, reason: 'seq 3 missing (found 4)' });
  });

  it('names an edited canonical', async () => {
    const rows = chain(5);
    rows[3] = { ...rows[3], canonical: rows[3].canonical.replace('"rule":"all"', '"rule":"any"') };
    expect(await verifyRows(K, iter(rows))).toEqual({ ok: false, seq: 4, reason: 'seq 4: leaf hash does not match canonical' });
  });

  it('names a row whose chain hash does not follow, including from genesis', async () => {
    const rows = chain(3);
    const other = chain(3, 'another-tenant');
    const bad = [other[0], ...rows.slice(1)].map((r) => ({ ...r }));
    expect(await verifyRows(K, iter(bad))).toEqual({ ok: false, seq: 1, reason: 'seq 1: chain hash does not follow from the genesis hash' });
  });

  it('checks the columns against the canonical', async () => {
    const cases: Array<[Partial<ChainRow>, string]> = [
      [{ action: 'decision.approved' }, 'action column "decision.approved" does not match canonical "workflow.created"'],
      [{ recordedAt: '2026-11-26T10:00:02.000124Z' }, 'recorded_at 2026-11-26T10:00:02.000124Z does not match canonical at 2026-11-26T10:00:02.000123Z'],
      [{ spaceKey: 'OTHER' }, 'space_key column does not match canonical space'],
      [{ pageId: '1' }, 'page_id column does not match canonical page.id'],
      [{ workflowId: null }, 'workflow_id column does not match canonical workflow'],
      [{ actorRef: null }, 'actor_ref column does not match canonical actor.ref'],
    ];
    for (const [change, reason] of cases) {
      const rows = chain(3);
      rows[1] = { ...rows[1], ...change };
      expect(await verifyRows(K, iter(rows))).toEqual({ ok: false, seq: 2, reason: `seq 2: ${reason}` });
    }
  });

  it('names a canonical whose own seq or tenant is wrong even when its hashes were recomputed', async () => {
    const rows = chain(3);
    const forged = canonicalText(event(9));
    const leaf = leafHash(forged);
    rows[1] = { ...rows[1], canonical: forged, leafHash: leaf, chainHash: chainHash(rows[0].chainHash, leaf) };
    rows.length = 2;
    expect(await verifyRows(K, iter(rows))).toEqual({ ok: false, seq: 2, reason: 'seq 2: canonical says seq 9' });
  });

  it('refuses canonical text that is not in RFC 8785 form', async () => {
    const rows = chain(1);
    const spaced = rows[0].canonical.replace('{"action"', '{ "action"');
    const leaf = leafHash(spaced);
    rows[0] = { ...rows[0], canonical: spaced, leafHash: leaf, chainHash: chainHash(genesisHash(K), leaf) };
    expect(await verifyRows(K, iter(rows))).toEqual({ ok: false, seq: 1, reason: 'seq 1: canonical is not in RFC 8785 form' });
  });

  it('checks the head: rows beyond it, rows missing before it, and its hash', async () => {
    const rows = chain(4);
    expect(await verifyRows(K, iter(rows), { head: { seq: 3, chainHash: rows[2].chainHash } })).toEqual({
      ok: false,
      seq: 4,
      reason: 'seq 4: beyond the head (head is at seq 3)',
    });
    expect(await verifyRows(K, iter(rows), { head: { seq: 6, chainHash: Buffer.alloc(32) } })).toEqual({
      ok: false,
      seq: 5,
      reason: 'seq 5 missing (the events end at seq 4, the head is at seq 6)',
    });
    expect(await verifyRows(K, iter(rows), { head: { seq: 4, chainHash: rows[2].chainHash } })).toEqual({
      ok: false,
      seq: 4,
      reason: "seq 4: the head's chain hash does not match this event",
    });
    expect(await verifyRows(K, iter(rows), { head: null })).toEqual({
      ok: false,
      seq: 1,
      reason: 'seq 1: the tenant has events but no head row',
    });
  });
});
