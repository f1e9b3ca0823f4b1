import request from 'supertest';
import { startTestApp, TestApp } from '../helpers/test-app';

/** "My approvals": what waits on the signed-in user, across spaces, by name or through a group, only what they can read. */
describe('my approvals end to end', () => {
  let t: TestApp;
  let d: NonNullable<TestApp['devhost']>;
  beforeAll(async () => {
    t = await startTestApp();
    d = t.devhost!;
    // Opening each page once creates its workflows (as in Confluence: the macro renders).
    for (const key of Object.keys(d.pages) as Array<keyof typeof d.pages>) {
      for (const macroId of d.pages[key].macroIds) {
        const res = await request(t.baseUrl).get(path(d.macroUrl(d.users.author.accountId, d.pages[key].id, macroId)));
        // Board minutes are restricted without the app: Attest cannot read them, so no workflow starts.
        expect(res.status).toBe(key === 'boardMinutes' ? 409 : 200);
      }
    }
  });
  afterAll(() => t?.close());

  const path = (url: string) => url.slice(t.baseUrl.length);
  const mine = async (as: string, clientKey?: string) => {
    const res = await request(t.baseUrl)
      .get('/api/me/approvals')
      .set('Authorization', `JWT ${d.contextJwt(as, {}, clientKey ? { clientKey } : undefined)}`);
    expect(res.status).toBe(200);
    return res.body as { items: Array<{ pageId: string; macroId: string; pageTitle: string; overdue: boolean; via: { you: boolean; groups: string[] }; pageUrl: string; state: string }>; truncated: boolean };
  };
  const decide = async (as: string, pageKey: keyof typeof d.pages, macroIndex: number, decision: 'approve' | 'reject', comment = '') => {
    const page = d.pages[pageKey];
    const base = `/api/pages/${page.id}/workflows/${page.macroIds[macroIndex]}`;
    const token = d.contextJwt(as, { pageId: page.id });
    const wf = await request(t.baseUrl).get(base).set('Authorization', `JWT ${token}`);
    const res = await request(t.baseUrl).post(`${base}/decisions`).set('Authorization', `JWT ${token}`).send({ decision, comment, pageVersion: wf.body.boundVersion });
    expect(res.status).toBe(201);
  };

  it('lists what waits on a person by name, across spaces, and leaves out what they wrote themselves', async () => {
    const bob = await mine(d.users.bob.accountId);
    const titles = bob.items.map((i) => i.pageTitle).sort();
    expect(titles).toEqual(['ADR-7: Message queue', 'On-call handbook', 'Release checklist', 'Security update: new laptop policy', 'Vendor risk assessment'].sort());
    expect(bob.items.every((i) => i.via.you)).toBe(true);
    const release = bob.items.find((i) => i.pageTitle === 'Release checklist')!;
    expect(release.pageUrl).toBe(`${d.baseUrl}/spaces/ENG/pages/${d.pages.releaseChecklist.id}`);
    // A blog post links to the blog, not to a page.
    expect(bob.items.find((i) => i.pageTitle.startsWith('Security update'))!.pageUrl).toBe(`${d.baseUrl}/spaces/SEC/blog/${d.pages.securityUpdate.id}`);
    // Alice wrote the bound version of the ADR: it waits on others, not on her.
    const alice = await mine(d.users.alice.accountId);
    expect(alice.items.map((i) => i.pageTitle)).not.toContain('ADR-7: Message queue');
    expect(alice.items.map((i) => i.pageTitle)).toContain('Release checklist');
  });

  it('lists what waits on a group the person belongs to', async () => {
    const sec = await mine(d.users.secMember.accountId);
    expect(sec.items.map((i) => i.pageTitle).sort()).toEqual(['Quarterly access review', 'Vendor risk assessment']);
    for (const i of sec.items) expect(i.via).toEqual({ you: false, groups: ['security'] });
    // the group's pages do not wait on someone outside it (Paul is listed nowhere)
    expect((await mine(d.users.author.accountId)).items).toEqual([]);
  });

  it('tells two workflows on one page apart: by the macro title, else by their place on the page', async () => {
    const page = d.pages.vendorRisk;
    const params = d.page(page.id).macros[0].params;
    await d.saveMacro(page.id, page.macroIds[0], { ...params, title: 'Security sign-off' }, d.users.author.accountId);
    await t.pageEvents.settled();
    expect((await request(t.baseUrl).get(path(d.macroUrl(d.users.bob.accountId, page.id, page.macroIds[0])))).text).toContain('<h2 class="attest-title" data-testid="title">Security sign-off</h2>');
    const bob = (await mine(d.users.bob.accountId)).items.find((i) => i.pageId === page.id) as { name?: string } | undefined;
    expect(bob?.name).toBe('Security sign-off');
    const legal = (await mine(d.users.spaceAdmin.accountId)).items.find((i) => i.pageId === page.id) as { name?: string } | undefined;
    expect(legal?.name).toBe('Approvals 2 of 2');
    // a page with one macro needs no name
    expect(((await mine(d.users.bob.accountId)).items.find((i) => i.pageId === d.pages.onCall.id) as { name?: string }).name).toBeNull();
    const html = await request(t.baseUrl).get(path(d.myApprovalsUrl(d.users.bob.accountId))).set('Accept', 'text/html');
    expect(html.text).toContain('<span class="attest-workflow-name" data-testid="workflow-name">Security sign-off</span>');
  });

  it('never lists a page the person cannot read, even when their group is listed', async () => {
    d.addToGroup(d.users.nora.accountId, 'security');
    d.setRestriction(d.pages.vendorRisk.id, [d.users.author.accountId, d.users.bob.accountId, d.users.secMember.accountId]);
    try {
      // Confluence's answers (groups, read permission) are cached for ≤ 60 s per user: Nora is asked here first.
      const nora = await mine(d.users.nora.accountId);
      expect(nora.items.map((i) => i.pageTitle)).toEqual(['Quarterly access review']);
      expect(JSON.stringify(nora)).not.toContain('Vendor risk');
      const sec = await mine(d.users.secMember.accountId);
      expect(sec.items.map((i) => i.pageTitle)).toContain('Vendor risk assessment');
    } finally {
      d.setRestriction(d.pages.vendorRisk.id, null);
      d.removeFromGroup(d.users.nora.accountId, 'security');
    }
  });

  it('drops a workflow once the person decided, and a group requirement once another member met it', async () => {
    await decide(d.users.bob.accountId, 'releaseChecklist', 0, 'approve');
    expect((await mine(d.users.bob.accountId)).items.map((i) => i.pageTitle)).not.toContain('Release checklist');
    expect((await mine(d.users.alice.accountId)).items.map((i) => i.pageTitle)).toContain('Release checklist');

    // Vendor risk (security macro): Bob and one member of security, rule "all". Another member meets the group part…
    d.addToGroup(d.users.alice.accountId, 'security');
    try {
      await decide(d.users.secMember.accountId, 'vendorRisk', 0, 'approve');
      const alice = await mine(d.users.alice.accountId);
      expect(alice.items.filter((i) => i.pageTitle === 'Vendor risk assessment')).toEqual([]);
      // …while it still waits on Bob by name
      expect((await mine(d.users.bob.accountId)).items.map((i) => i.macroId)).toContain(d.pages.vendorRisk.macroIds[0]);
    } finally {
      d.removeFromGroup(d.users.alice.accountId, 'security');
    }
  });

  it('puts overdue first', async () => {
    await t.db('workflows').where({ client_key: d.clientKey, page_id: d.pages.postmortem.id }).update({ due_date: '2020-01-02' });
    await t.db('workflows').where({ client_key: d.clientKey, page_id: d.pages.onCall.id }).update({ due_date: '2020-01-01' });
    const alice = await mine(d.users.alice.accountId);
    expect(alice.items.slice(0, 2).map((i) => [i.pageTitle, i.overdue])).toEqual([
      ['On-call handbook', true],
      ['Incident 42 postmortem', true],
    ]);
    expect(alice.items.slice(2).every((i) => !i.overdue)).toBe(true);
  });

  it("shows nothing of one installation's workflows to another", async () => {
    const other = await d.installTenant({ clientKey: 'my-approvals-other-site' });
    expect((await mine(d.users.bob.accountId, other.clientKey)).items).toEqual([]);
  });

  it('renders the page with the list, and an empty state that says what to do', async () => {
    const bob = await request(t.baseUrl).get(path(d.myApprovalsUrl(d.users.bob.accountId))).set('Accept', 'text/html');
    expect(bob.status).toBe(200);
    expect(bob.text).toContain('On-call handbook');
    expect(bob.text).toContain('target="_top"');
    const paul = await request(t.baseUrl).get(path(d.myApprovalsUrl(d.users.author.accountId))).set('Accept', 'text/html');
    expect(paul.status).toBe(200);
    expect(paul.text).toContain('Nothing waits for you');
    expect(paul.text).toContain('add the <strong>Approvals</strong> macro');
  });

  it('refuses a call without a token', async () => {
    expect((await request(t.baseUrl).get('/api/me/approvals')).status).toBe(401);
  });
});
