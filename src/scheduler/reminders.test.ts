import type { Workflow } from '../approvals/approvals-types';
import { reminderBody } from './reminders';

const wf = (over: Partial<Workflow>): Workflow => ({
  id: 'w1', clientKey: 'c', pageId: '1', contentType: 'page', macroId: 'm1', title: null, after: null, pagePosition: null, spaceKey: 'SEC',
  pageTitle: 'Vendor risk & terms', state: 'pending', stateBeforeArchive: null, rule: 'all', quorum: null, rejections: 1,
  approvers: ['a1'], groups: [], dueDate: null, reviewDays: null, boundVersion: 2, bodyHash: null, boundAuthorId: null, round: 1,
  approvedAt: null, expiresAt: null, lastDecisionAt: null, appUnreadableSince: null, createdAt: new Date(0), updatedAt: new Date(0),
  ...over,
});

describe('reminderBody', () => {
  it('names the workflow by its title, escaped, so two reminders on one page are told apart', () => {
    const body = reminderBody(wf({ title: 'Security <sign-off>', pagePosition: { position: 1, count: 2 } }), ['a1'], [], false);
    expect(body).toContain('“Vendor risk &amp; terms” — Security &lt;sign-off&gt; (version 2) is waiting for approval.');
  });

  it('names an untitled workflow by its place when the page has several, and not at all when it has one', () => {
    expect(reminderBody(wf({ pagePosition: { position: 2, count: 2 } }), ['a1'], [], false)).toContain('“Vendor risk &amp; terms” — Approvals 2 of 2 (version 2)');
    expect(reminderBody(wf({ pagePosition: { position: 1, count: 1 } }), ['a1'], [], false)).toContain('“Vendor risk &amp; terms” (version 2)');
  });
});
