import { COL, evidenceRecord, EVIDENCE_COLUMNS, neutralise, writeDerivedCells } from './evidence-csv';
import { parseEvidenceTime } from './evidence-time';

describe('evidence CSV cells', () => {
  it('quotes cells a spreadsheet would run as a formula, and nothing else', () => {
    for (const c of ['=1+1', '+1', '-2', '@SUM(A1)', '\tx', '\rx']) expect(neutralise(c)).toBe(`'${c}`);
    for (const c of ['', 'ok', "'=already", ' =x', '1-2', 'ü=']) expect(neutralise(c)).toBe(c);
  });

  it("shows a stage's place as `P of N` only for an event about a workflow with whole numbers in data.stage", () => {
    const stage = (s: unknown, workflow: string | null = 'w') => {
      const row: string[] = new Array<string>(EVIDENCE_COLUMNS.length).fill('');
      writeDerivedCells({ workflow, data: { stage: s } }, row);
      return row[COL.stage];
    };
    expect(stage({ position: 2, count: 2, after: 'Legal sign-off' })).toBe('2 of 2');
    expect(stage({ position: 2, count: 2 }, null)).toBe('');
    for (const bad of [undefined, null, '2 of 2', { position: '2', count: 2 }, { position: 1.5, count: 2 }, { count: 2 }]) expect(stage(bad)).toBe('');
    expect(EVIDENCE_COLUMNS.slice(-2)).toEqual(['workflow_title', 'stage']);
  });

  it('derives display cells from the canonical text, and keeps only seq and hashes outside the filter', () => {
    const canonical = JSON.stringify({
      action: 'decision.rejected',
      actor: { ref: 'r'.repeat(64), type: 'user' },
      at: '2026-01-01T00:00:00.000001Z',
      data: { comment: '=cmd', decision: 'reject' },
      page: { id: '7', title: '-x', version: 2 },
      space: 'ENG',
      workflow: 'w',
    });
    const e = { seq: 3, canonical, leafHash: 'a'.repeat(64), chainHash: 'c'.repeat(64), accountId: 'acc', saltHex: 'f'.repeat(32) };
    const row = evidenceRecord(e, 'b'.repeat(64));
    expect(row).toHaveLength(EVIDENCE_COLUMNS.length);
    expect([row[COL.comment], row[COL.page_title], row[COL.page_version], row[COL.decision], row[COL.actor_account_id]]).toEqual(["'=cmd", "'-x", '2', 'reject', 'acc']);
    expect(row[COL.canonical]).toBe(canonical);
    const redacted = evidenceRecord({ ...e, canonical: null }, 'b'.repeat(64));
    expect(redacted.filter(Boolean)).toEqual(['3', 'a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)]);
  });

  it('accepts ISO dates and zoned date-times as filter bounds, nothing looser', () => {
    expect(parseEvidenceTime('2026-03-01')?.toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(parseEvidenceTime('2026-03-01T10:00:00+02:00')?.toISOString()).toBe('2026-03-01T08:00:00.000Z');
    for (const bad of ['2026-02-30', '2026-03-01T10:00:00', 'March 1', '1700000000']) expect(parseEvidenceTime(bad)).toBeNull();
  });
});
