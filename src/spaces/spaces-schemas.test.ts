import { DEFAULT_POLICY } from '../approvals/space-policy';
import { InputError } from '../lib/errors';
import { decodeCursor, encodeCursor } from './dashboard-cursor';
import { normaliseSettings, settingsBody, workflowsQuery } from './spaces-schemas';

describe('dashboard cursor', () => {
  it('round-trips the sort key as opaque base64url', () => {
    const key = { segment: 0, due: '2026-01-31', created: '2026-01-01T10:00:00.123456Z', id: '0b7c2f1e-6a0d-4c53-9d53-8f0e6b1b2a3c' };
    const cursor = encodeCursor(key);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toEqual(key);
    const open = { ...key, segment: 3, due: null };
    expect(decodeCursor(encodeCursor(open))).toEqual(open);
  });

  it('refuses anything it did not make', () => {
    const bad = [
      'not-json',
      Buffer.from('[0,null,"2026-01-01T10:00:00.123456Z","0b7c2f1e-6a0d-4c53-9d53-8f0e6b1b2a3c"]').toString('base64url'), // overdue needs a due date
      Buffer.from('[3,"2026-01-01","2026-01-01T10:00:00.123456Z","0b7c2f1e-6a0d-4c53-9d53-8f0e6b1b2a3c"]').toString('base64url'), // others have none
      Buffer.from('[99,null,"2026-01-01T10:00:00.123456Z","0b7c2f1e-6a0d-4c53-9d53-8f0e6b1b2a3c"]').toString('base64url'),
      Buffer.from('[3,null,"2026-01-01T10:00:00Z","0b7c2f1e-6a0d-4c53-9d53-8f0e6b1b2a3c"]').toString('base64url'), // ms precision loses rows
      Buffer.from("[3,null,\"2026-01-01T10:00:00.123456Z\",\"x'; drop table workflows\"]").toString('base64url'),
    ];
    for (const c of bad) expect(() => decodeCursor(c)).toThrow(InputError);
  });
});

describe('space settings schema', () => {
  const valid = { ...DEFAULT_POLICY, defaults: { ...DEFAULT_POLICY.defaults } };

  it('accepts the whole document and drops a quorum the rule does not use', () => {
    const r = settingsBody.safeParse({ ...valid, defaults: { ...valid.defaults, approvers: ['a:1', 'a:1'], quorum: 3 } });
    expect(r.success && r.data.defaults).toMatchObject({ approvers: ['a:1'], quorum: null });
  });

  it('is strict at every level', () => {
    expect(settingsBody.safeParse({ ...valid, more: true }).success).toBe(false);
    expect(settingsBody.safeParse({ ...valid, defaults: { ...valid.defaults, more: true } }).success).toBe(false);
    expect(workflowsQuery.safeParse({ sort: 'title' }).success).toBe(false);
    expect(workflowsQuery.parse({ state: '' })).toEqual({ limit: 25 });
  });

  it('reads an older or damaged stored document field by field, falling back to the defaults', () => {
    expect(normaliseSettings(null)).toEqual(DEFAULT_POLICY);
    expect(normaliseSettings({ allowSelfApproval: true, resetOnEdit: 'sometimes', defaults: { rule: 'any', approvers: 'x' } })).toEqual({
      ...DEFAULT_POLICY,
      allowSelfApproval: true,
      defaults: { ...DEFAULT_POLICY.defaults, rule: 'any' },
    });
  });
});
