import { CountedDecision, decideRefusal, describeRule, evaluate, RuleConfig } from './approval-rules';

const cfg = (over: Partial<RuleConfig>): RuleConfig => ({ rule: 'all', quorum: null, rejections: 1, approvers: [], groups: [], ...over });
const ok = (approverId: string, viaGroups: string[] = []): CountedDecision => ({ approverId, decision: 'approve', viaGroups });
const no = (approverId: string, viaGroups: string[] = []): CountedDecision => ({ approverId, decision: 'reject', viaGroups });

describe('evaluate', () => {
  it.each<[string, RuleConfig, CountedDecision[], 'open' | 'approved' | 'rejected']>([
    ['all: nobody decided', cfg({ approvers: ['a', 'b'] }), [], 'open'],
    ['all: one of two approved', cfg({ approvers: ['a', 'b'] }), [ok('a')], 'open'],
    ['all: both approved', cfg({ approvers: ['a', 'b'] }), [ok('a'), ok('b')], 'approved'],
    ['all: an unlisted approval does not count', cfg({ approvers: ['a', 'b'] }), [ok('a'), ok('x')], 'open'],
    ['all: people done, group still waiting', cfg({ approvers: ['a'], groups: ['security'] }), [ok('a')], 'open'],
    ['all: people and one member of the group', cfg({ approvers: ['a'], groups: ['security'] }), [ok('a'), ok('s', ['security'])], 'approved'],
    ['all: one member may satisfy two groups', cfg({ groups: ['security', 'legal'] }), [ok('s', ['security', 'legal'])], 'approved'],
    ['all: each group needs its own member', cfg({ groups: ['security', 'legal'] }), [ok('s', ['security'])], 'open'],
    ['all: nobody listed never approves', cfg({}), [ok('x')], 'open'],
    ['any: one approval', cfg({ rule: 'any', approvers: ['a', 'b'] }), [ok('b')], 'approved'],
    ['any: a group member', cfg({ rule: 'any', groups: ['security'] }), [ok('s', ['security'])], 'approved'],
    ['any: no decisions', cfg({ rule: 'any', approvers: ['a'] }), [], 'open'],
    ['quorum 2: one approval', cfg({ rule: 'quorum', quorum: 2, approvers: ['a', 'b', 'c'] }), [ok('a')], 'open'],
    ['quorum 2: the same person twice is one', cfg({ rule: 'quorum', quorum: 2, approvers: ['a', 'b', 'c'] }), [ok('a'), ok('a')], 'open'],
    ['quorum 2: two distinct approvers', cfg({ rule: 'quorum', quorum: 2, approvers: ['a', 'b', 'c'] }), [ok('a'), ok('c')], 'approved'],
    ['rejection threshold 1', cfg({ approvers: ['a', 'b'] }), [ok('a'), no('b')], 'rejected'],
    ['rejection threshold 2: one rejection is not enough', cfg({ rule: 'quorum', quorum: 3, rejections: 2, approvers: ['a', 'b', 'c', 'd'] }), [no('a'), ok('b')], 'open'],
    ['rejection threshold 2: two rejections', cfg({ rule: 'quorum', quorum: 3, rejections: 2, approvers: ['a', 'b', 'c', 'd'] }), [no('a'), no('b')], 'rejected'],
    ['rejection wins over a met rule', cfg({ rule: 'any', approvers: ['a', 'b'] }), [ok('a'), no('b')], 'rejected'],
    ['changed mind: reject then approve', cfg({ approvers: ['a'] }), [no('a'), ok('a')], 'approved'],
    ['changed mind: approve then reject', cfg({ approvers: ['a', 'b'] }), [ok('a'), ok('b'), no('b')], 'rejected'],
    ['changed mind lowers a quorum', cfg({ rule: 'quorum', quorum: 2, rejections: 5, approvers: ['a', 'b'] }), [ok('a'), ok('b'), no('b')], 'open'],
  ])('%s', (_name, config, decisions, expected) => {
    expect(evaluate(config, decisions).result).toBe(expected);
  });

  it('says who still has to act', () => {
    const out = evaluate(cfg({ approvers: ['a', 'b', 'c'], groups: ['security', 'legal'] }), [ok('a'), no('c', []), ok('s', ['legal'])]);
    expect(out.waitingOnUsers).toEqual(['b']);
    expect(out.waitingOnGroups).toEqual(['security']);
    expect(out.approvals).toBe(2);
    expect(out.rejections).toBe(1);
  });
});

describe('describeRule', () => {
  it('puts the rule in words', () => {
    expect(describeRule(cfg({ approvers: ['a', 'b'], groups: ['g'] }))).toBe(
      'Needs approval from all 2 listed approvers and one member of the listed group; one rejection rejects it.',
    );
    expect(describeRule(cfg({ rule: 'quorum', quorum: 2, rejections: 2 }))).toBe(
      'Needs 2 approvals from different people listed; 2 rejections reject it.',
    );
    expect(describeRule(cfg({}))).toMatch(/No approvers are listed/);
  });
});

describe('decideRefusal: who may decide, the one rule behind the decision API and My approvals', () => {
  const wf = { approvers: ['alice'], boundAuthorId: 'bob', state: 'pending' as const };
  it('lets a listed person or a member of a listed group decide on an open workflow', () => {
    expect(decideRefusal(wf, 'alice', [], false)).toBeNull();
    expect(decideRefusal(wf, 'carol', ['security'], false)).toBeNull();
    expect(decideRefusal(wf, 'carol', [], false)).toBe('not-approver');
  });
  it('keeps the author of the bound version out unless the space allows self-approval', () => {
    expect(decideRefusal({ ...wf, approvers: ['bob'] }, 'bob', [], false)).toBe('author');
    expect(decideRefusal({ ...wf, approvers: ['bob'] }, 'bob', [], true)).toBeNull();
    expect(decideRefusal({ ...wf, boundAuthorId: null }, 'alice', [], false)).toBeNull();
  });
  it('takes no decision on a closed workflow', () => {
    for (const state of ['approved', 'rejected', 'archived'] as const) expect(decideRefusal({ ...wf, state }, 'alice', [], false)).toBe('closed');
    for (const state of ['pending', 'outdated', 'expired'] as const) expect(decideRefusal({ ...wf, state }, 'alice', [], false)).toBeNull();
  });
});
