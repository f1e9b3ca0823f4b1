import { parse } from 'node-html-parser';
import { renderReport } from './report-html';
import { ReportBuilder, ReportEvent, quantile, weekStart } from './report-model';

const DAY = 86_400_000;
const T0 = Date.parse('2027-03-01T00:00:00Z'); // a Monday

let seq = 0;
const event = (over: Partial<ReportEvent> & { action: string; at: number }): ReportEvent => ({
  seq: ++seq,
  space: 'ENG',
  page: { id: '1', title: 'Runbook', version: 1 },
  workflow: 'wf-1',
  actor: { type: 'user', ref: 'a'.repeat(64) },
  accountId: 'acct-alice',
  data: {},
  ...over,
});
const config = (over: Record<string, unknown> = {}) => ({ title: null, rule: 'any', quorum: null, rejections: 1, approvers: ['a'.repeat(64)], groups: [], due: null, reviewDays: null, ...over });

describe('the report model', () => {
  beforeEach(() => {
    seq = 0;
  });

  it('an overdue review ends when its due date moves past the change, and counts as open for exactly that spell', () => {
    const b = new ReportBuilder({ spaces: ['ENG'], from: T0, to: T0 + 30 * DAY });
    b.add(event({ action: 'workflow.created', at: T0, data: { macroId: 'm', config: config({ due: '2027-03-05' }) } }));
    b.add(event({ action: 'workflow.configured', at: T0 + 10 * DAY, data: { before: config({ due: '2027-03-05' }), after: config({ due: '2027-04-30' }), state: 'pending' } }));
    const [x] = b.finish().exceptions;
    expect(x).toMatchObject({ kind: 'review-overdue', openedSeq: 1, closedSeq: 2, closedBy: 'due date moved' });
    expect(x.openMs).toBe(T0 + 10 * DAY - Date.parse('2027-03-06T00:00:00Z'));
  });

  it('an archived page closes what was open; an approval of another space is not counted', () => {
    const b = new ReportBuilder({ spaces: ['ENG'], from: T0, to: T0 + 30 * DAY });
    b.add(event({ action: 'workflow.created', at: T0, data: { config: config() } }));
    b.add(event({ action: 'decision.rejected', at: T0 + DAY, data: { decision: 'reject' } }));
    b.add(event({ action: 'workflow.rejected', at: T0 + DAY, data: {} }));
    b.add(event({ action: 'workflow.archived', at: T0 + 3 * DAY, data: { previousState: 'rejected' } }));
    b.add(event({ action: 'workflow.approved', at: T0 + 4 * DAY, space: 'SEC', workflow: 'wf-2', data: {} }));
    const m = b.finish();
    expect(m.exceptions).toEqual([expect.objectContaining({ kind: 'rejected', closedBy: 'archived', openMs: 2 * DAY, seqs: [3, 4] })]);
    expect(m.approvals.map((a) => a.state)).toEqual(['archived']);
    expect(m.weeks.reduce((n, w) => n + w.reject, 0)).toBe(1);
    expect(m.requestToApproval).toEqual([]);
  });

  it('a withdrawn approval is not listed, a renewed one is listed where it was renewed; an exception keeps the page name it was opened under', () => {
    const b = new ReportBuilder({ spaces: null, from: T0, to: T0 + 7 * DAY });
    const by = (accountId: string) => ({ actor: { type: 'user', ref: accountId.padEnd(64, '0') }, accountId });
    b.add(event({ action: 'workflow.created', at: T0, data: { config: config() } }));
    b.add(event({ action: 'decision.approved', at: T0 + 1, ...by('acct-alice'), data: { decision: 'approve' } }));
    b.add(event({ action: 'decision.approved', at: T0 + 2, ...by('acct-bob'), data: { decision: 'approve' } }));
    b.add(event({ action: 'decision.approved', at: T0 + 3, ...by('acct-carol'), data: { decision: 'approve' } }));
    b.add(event({ action: 'decision.rejected', at: T0 + 4, ...by('acct-bob'), data: { decision: 'reject' } }));
    b.add(event({ action: 'decision.approved', at: T0 + 5, ...by('acct-alice'), data: { decision: 'approve' } }));
    b.add(event({ action: 'workflow.approved', at: T0 + 6, data: {} }));
    b.add(event({ action: 'workflow.outdated', at: T0 + DAY, data: { previousState: 'approved' } }));
    b.add(event({ action: 'decision.approved', at: T0 + DAY + 1, page: { id: '1', title: 'Runbook v2', version: 2 }, ...by('acct-bob'), data: { decision: 'approve' } }));
    const m = b.finish();
    const [row] = m.approvals;
    expect(row.approvers.map((a) => [a.who, a.seq])).toEqual([['acct-carol', 4], ['acct-alice', 6]]);
    expect(row.workflow.pageTitle).toBe('Runbook v2');
    expect(m.exceptions).toEqual([expect.objectContaining({ kind: 'changed-after-approval', workflow: expect.objectContaining({ pageTitle: 'Runbook' }) })]);
  });

  it('reads events written before a field existed without failing (the canonical text is the record)', () => {
    const b = new ReportBuilder({ spaces: null, from: T0, to: T0 + 7 * DAY });
    b.add(event({ action: 'workflow.created', at: T0, page: null, data: {} }));
    b.add(event({ action: 'workflow.outdated', at: T0 + DAY, data: {} }));
    b.add(event({ action: 'settings.changed', at: T0 + DAY, workflow: null, data: { after: { rule: 'all' } } }));
    const m = b.finish();
    expect(m.exceptions).toEqual([]);
    expect(m.access.changes).toEqual([expect.objectContaining({ fields: [{ field: 'rule', before: '(none)', after: 'all' }] })]);
  });

  it('a busy week names its decisions by the range that holds exactly them; a person\'s latest decision is what counts', () => {
    const b = new ReportBuilder({ spaces: ['ENG'], from: T0, to: T0 + 7 * DAY });
    b.add(event({ action: 'workflow.created', at: T0, data: { config: config() } }));
    for (let i = 0; i < 60; i++) {
      b.add(event({ action: i === 59 ? 'decision.rejected' : 'decision.approved', at: T0 + i * 60_000, accountId: `acct-${i % 3}`, data: {} }));
      b.add(event({ action: 'decision.approved', at: T0 + i * 60_000, space: 'SEC', workflow: 'wf-sec', data: {} }));
    }
    b.add(event({ action: 'workflow.approved', at: T0 + DAY, data: {} }));
    const m = b.finish();
    const [week] = m.weeks;
    expect([week.approve, week.reject, week.decisionRange]).toEqual([59, 1, [2, 120]]);
    // acct-2 approved, then rejected last: only acct-0 and acct-1 stand as approvers of the round.
    expect(m.approvals.find((a) => a.workflow.id === 'wf-1')!.approvers.map((p) => p.who).sort()).toEqual(['acct-0', 'acct-1']);
    const out = parse(renderReport(m, { chain: { rows: 0, lastSeq: null, ok: true, failure: null }, checkpoints: [], keyId: null }, { tenant: 't', scopeLabel: 'space ENG', generatedAt: new Date(T0), fromGiven: true }));
    const row = out.querySelector('#weeks tbody tr')!;
    expect(row.getAttribute('data-decision-range')).toBe('2 120');
    expect(row.getAttribute('data-decision-seqs')).toBe('');
    expect(row.text).toContain('every decision event of this scope from seq 2 to 120');
  });

  it('nearest-rank percentiles and Monday weeks', () => {
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9);
    expect(quantile([5], 0.5)).toBe(5);
    expect(quantile([], 0.5)).toBeNull();
    expect(new Date(weekStart(Date.parse('2027-03-07T23:59:00Z'))).toISOString()).toBe('2027-03-01T00:00:00.000Z');
  });

  it('escapes what people typed: a hostile page title is text, never markup', () => {
    const b = new ReportBuilder({ spaces: null, from: T0, to: T0 + 7 * DAY });
    const title = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&';
    b.add(event({ action: 'workflow.created', at: T0, page: { id: '1', title, version: 1 }, data: { config: config() } }));
    const out = renderReport(b.finish(), { chain: { rows: 1, lastSeq: 1, ok: true, failure: null }, checkpoints: [], keyId: null }, { tenant: 't<1>', scopeLabel: 'every space', generatedAt: new Date(T0), fromGiven: true });
    const doc = parse(out);
    expect(doc.querySelectorAll('script')).toHaveLength(0);
    expect(doc.querySelectorAll('img')).toHaveLength(0);
    expect(doc.querySelector('#approvals tbody td')!.text).toContain(title);
  });
});
