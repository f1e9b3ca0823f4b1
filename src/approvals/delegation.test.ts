import { dayOf, isActive, onBehalfRefusal } from './delegation';

describe('delegation rules', () => {
  const d = { startsOn: '2026-03-02', endsOn: '2026-03-04', endedAt: null };

  it('is active from the first through the last day (UTC), and not once ended', () => {
    expect(['2026-03-01', '2026-03-02', '2026-03-04', '2026-03-05'].map((day) => isActive(d, day))).toEqual([false, true, true, false]);
    expect(isActive({ ...d, endedAt: new Date('2026-03-03T10:00:00Z') }, '2026-03-03')).toBe(false);
    expect(dayOf(new Date('2026-03-04T23:59:59.999Z'))).toBe('2026-03-04');
  });

  const wf = { approvers: ['bob', 'alice'], boundAuthorId: 'paul', state: 'pending' as const };
  const allowed = { allowSelfApproval: false, allowDelegation: true };

  it("lets a delegate decide where the delegator may, with the delegator's groups", () => {
    expect(onBehalfRefusal(wf, 'bob', 'dana', [], allowed)).toBeNull();
    expect(onBehalfRefusal({ ...wf, approvers: [] }, 'bob', 'dana', ['security'], allowed)).toBeNull();
    expect(onBehalfRefusal({ ...wf, approvers: [] }, 'bob', 'dana', [], allowed)).toBe('not-approver');
    expect(onBehalfRefusal({ ...wf, state: 'approved' }, 'bob', 'dana', [], allowed)).toBe('closed');
  });

  it('keeps separation of duties for both people, unless the space allows self-approval', () => {
    expect(onBehalfRefusal(wf, 'bob', 'paul', [], allowed)).toBe('delegate-is-author');
    expect(onBehalfRefusal({ ...wf, approvers: ['paul'] }, 'paul', 'dana', [], allowed)).toBe('author');
    expect(onBehalfRefusal(wf, 'bob', 'paul', [], { ...allowed, allowSelfApproval: true })).toBeNull();
  });

  it('refuses everything in a space that forbids delegation', () => {
    expect(onBehalfRefusal(wf, 'bob', 'dana', [], { ...allowed, allowDelegation: false })).toBe('delegation-forbidden');
  });
});
