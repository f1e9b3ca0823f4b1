import { Readable } from 'node:stream';
import { canonicalText, chainHash, genesisHash, leafHash, subjectRef } from '../audit/audit-format';
import { csvRecord } from './csv-records';
import { checkCsvBatch, checkCsvBytes, recordsEnd } from './csv-batch';
import { EVIDENCE_COLUMNS, evidenceRecord } from './evidence-csv';
import { verifyEvidenceCsv } from './evidence-verifier';

/** An evidence CSV of `n` events of one tenant, as the exporter writes it. */
function evidenceCsv(n: number, comment = (seq: number) => `line one\r\nline ${seq} ü ${'x'.repeat(400)}`): string {
  const salt = Buffer.alloc(16, 7);
  let prev = genesisHash('t1');
  let out = csvRecord(EVIDENCE_COLUMNS);
  for (let seq = 1; seq <= n; seq++) {
    const canonical = canonicalText({
      v: 1, tenant: 't1', seq, at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString().replace('Z', '000Z'),
      action: 'decision.approved', actor: { type: 'user', ref: subjectRef(salt, `acc-${seq % 3}`) }, space: 'ENG',
      page: { id: '1', version: 2, title: 'Policy, "quoted"', bodyHash: null }, workflow: 'w1', data: { comment: comment(seq), decision: 'approve' },
    });
    const leaf = leafHash(canonical);
    const chain = chainHash(prev, leaf);
    out += csvRecord(evidenceRecord({ seq, canonical, leafHash: leaf.toString('hex'), chainHash: chain.toString('hex'), accountId: `acc-${seq % 3}`, saltHex: salt.toString('hex') }, prev.toString('hex')));
    prev = chain;
  }
  return out;
}

const verify = (text: string, threads: number) => verifyEvidenceCsv(Readable.from([Buffer.from(text, 'utf8')]), { threads });

describe('CSV rows checked in worker threads', () => {
  jest.setTimeout(60_000);
  const csv = evidenceCsv(400);

  it('cut the text only where a record ends, quoted line breaks and doubled quotes included', () => {
    expect(recordsEnd(Buffer.from('a,b\r\nc,d\r\ne'))).toBe(10);
    expect(recordsEnd(Buffer.from('a,"x\r\ny"\r\nc'))).toBe(10);
    expect(recordsEnd(Buffer.from('a,"x""\r\n""y"\r\nc'))).toBe(14);
    expect(recordsEnd(Buffer.from('a,"open\r\n'))).toBe(-1);
    expect(recordsEnd(Buffer.from('no end'))).toBe(-1);
    // Bytes, not characters: after the CRLF of the second record, a quoted line break between.
    expect(recordsEnd(Buffer.from('ü,"ä\r\n"\r\nx'))).toBe(11);
  });

  it("read a batch's bytes in pieces as they read its whole text: ASCII, Latin-1, beyond, line breaks, bad UTF-8", () => {
    const comments = ['plain', 'ü', '日本 😀', 'line\r\nbreak ✓', 'a\nb', '', '=1+2', 'x"y"'];
    const text = evidenceCsv(120, (seq) => (seq % 9 === 0 ? comments.join(' ') : comments[seq % comments.length]));
    const headerEnd = text.indexOf('\r\n') + 2;
    const records = text.slice(headerEnd);
    const cfg = { width: EVIDENCE_COLUMNS.length, filter: null, noHidden: false };
    const whole = checkCsvBatch(records, cfg);
    expect(whole).toMatchObject({ ok: true });
    expect(whole.facts).toHaveLength(120);
    expect(checkCsvBytes(Buffer.from(records, 'utf8'), cfg)).toEqual(whole);
    // Every line ASCII; and a byte that is not UTF-8 (a lead byte before a line feed), read the same both ways.
    const ascii = evidenceCsv(30, () => 'plain').slice(headerEnd);
    expect(checkCsvBytes(Buffer.from(ascii, 'utf8'), cfg)).toEqual(checkCsvBatch(ascii, cfg));
    const bytes = Buffer.from(records, 'utf8');
    const bad = Buffer.concat([bytes.subarray(0, bytes.indexOf('break') + 5), Buffer.from([0xe6]), bytes.subarray(bytes.indexOf('break') + 5)]);
    const badWhole = checkCsvBatch(bad.toString('utf8'), cfg);
    expect(badWhole.ok).toBe(false);
    expect(checkCsvBytes(bad, cfg)).toEqual(badWhole);
  });

  it('give the same verdict whatever the chunks, cut inside a character or a record, with a byte-order mark', async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(csv, 'utf8')]);
    const chunked = (size: number) => Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
    const alone = await verifyEvidenceCsv(Readable.from([bytes]), { threads: 0 });
    expect(alone).toMatchObject({ ok: true, rows: 400 });
    for (const size of [7, 4099, 65_537]) expect(await verifyEvidenceCsv(Readable.from(chunked(size)), { threads: 2 })).toEqual(alone);
  });

  it('give the verdict of the main thread alone, for a good file and for each kind of bad one', async () => {
    const good = await verify(csv, 2);
    expect(good).toEqual(await verify(csv, 0));
    expect(good).toMatchObject({ ok: true, rows: 400, start: 'genesis' });
    const bad = [
      csv.replace('line 250 ü', 'line 250 u'), // a display cell changed: the comment no longer matches canonical
      csv.replace(/\r\n300,/, '\r\n301,'), // a seq changed
      csv.replace('line 120 ü', 'line 120 "ü'), // a quote inside a quoted field, not doubled: the CSV does not parse
      csv.slice(0, csv.length - 300), // cut short inside the last record
      `${csv.slice(0, csv.indexOf('\r\n') + 2)}`.replace('seq', 'sequence'), // another header
    ];
    for (const text of bad) {
      const alone = await verify(text, 0);
      expect(alone.ok).toBe(false);
      expect(await verify(text, 2)).toEqual(alone);
    }
  });

  it('name a canonical text whose number is too large for a double as not in RFC 8785 form (it has none), on both paths', async () => {
    const salt = Buffer.alloc(16, 7);
    const prev = genesisHash('t1');
    const canonical = canonicalText({
      v: 1, tenant: 't1', seq: 1, at: '2026-01-01T00:00:01.000000Z', action: 'decision.approved', actor: { type: 'user', ref: subjectRef(salt, 'acc-1') },
      space: 'ENG', page: { id: '1', version: 2, title: 'T', bodyHash: null }, workflow: 'w1', data: { decision: 'approve' },
    }).replace('{', '{"a":1e999,');
    const leaf = leafHash(canonical);
    const row = evidenceRecord({ seq: 1, canonical, leafHash: leaf.toString('hex'), chainHash: chainHash(prev, leaf).toString('hex'), accountId: 'acc-1', saltHex: salt.toString('hex') }, prev.toString('hex'));
    const text = csvRecord(EVIDENCE_COLUMNS) + csvRecord(row);
    const alone = await verify(text, 0);
    expect(alone).toMatchObject({ ok: false, row: 1, seq: 1, reason: 'row 1 (seq 1): canonical is not in RFC 8785 form' });
    expect(await verify(text, 2)).toEqual(alone);
  });
});
