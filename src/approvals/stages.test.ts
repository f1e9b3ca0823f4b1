import type { WorkflowState } from './approval-rules';
import { sequenceOf, sequenceState, stageGate, stagePlace, StageWorkflow } from './stages';

const wf = (id: string, title: string | null, after: string | null, state: WorkflowState = 'pending', position = Number(id)): StageWorkflow => ({
  id,
  title,
  after,
  state,
  pagePosition: { position, count: 3 },
});

describe('ordered stages', () => {
  it('a stage opens only when every stage before it is approved', () => {
    const legal = wf('1', 'Legal sign-off', null);
    const security = wf('2', 'Security review', 'Legal sign-off');
    const ciso = wf('3', 'CISO', 'Security review');
    expect(stageGate(legal, [legal, security, ciso])).toBeNull();
    expect(stageGate(security, [legal, security, ciso])).toBe('Opens after Legal sign-off.');
    expect(stageGate(ciso, [legal, security, ciso])).toBe('Opens after Legal sign-off.');
    const approved = { ...legal, state: 'approved' as const };
    expect(stageGate(security, [approved, security, ciso])).toBeNull();
    expect(stageGate(ciso, [approved, security, ciso])).toBe('Opens after Security review.');
    expect(stageGate(security, [{ ...legal, state: 'rejected' }, security])).toMatch(/rejected/);
  });

  it('names a missing or circular predecessor instead of waiting silently', () => {
    const lone = wf('1', 'Security review', 'Legal');
    expect(stageGate(lone, [lone])).toMatch(/^Opens after Legal\. No Approvals macro titled “Legal” has been shown on this page yet/);
    const a = wf('1', 'A', 'B');
    const b = wf('2', 'B', 'A');
    expect(stageGate(a, [a, b])).toMatch(/circle/);
  });

  it('places each stage in its sequence; unstaged workflows have none', () => {
    const legal = wf('1', 'Legal sign-off', null);
    const security = wf('2', 'Security review', 'Legal sign-off');
    const other = wf('3', 'Other', null);
    const page = [security, other, legal];
    expect(sequenceOf(legal, page)!.map((w) => w.id)).toEqual(['1', '2']);
    expect(stagePlace(legal, page)).toEqual({ position: 1, count: 2, after: null });
    expect(stagePlace(security, page)).toEqual({ position: 2, count: 2, after: 'Legal sign-off' });
    expect(stagePlace(other, page)).toBeNull();
  });

  it('a rejection in any stage rejects the sequence; it is approved only when every stage is', () => {
    const s1 = wf('1', 'L', null, 'approved');
    const s2 = wf('2', 'S', 'L', 'pending');
    expect(sequenceState([s1, s2])).toEqual({ result: 'open', current: s2 });
    expect(sequenceState([s1, { ...s2, state: 'rejected' }]).result).toBe('rejected');
    expect(sequenceState([s1, { ...s2, state: 'approved' }]).result).toBe('approved');
  });
});
