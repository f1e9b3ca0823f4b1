import type { DevContentType, DevPage, DevState, DevUser, PageVersion, SpacePermission } from './devhost-types';

/** Bump when the seed changes shape: an older state.json is then replaced by a fresh seed. */
export const STATE_FORMAT = 2;

const acct = (n: number) => `712020:5a3e0000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** Deterministic accountIds, so tests and bookmarks survive a reseed. */
export const ACCOUNT = {
  siteAdmin: acct(1),
  spaceAdmin: acct(2),
  alice: acct(3),
  bob: acct(4),
  secMember: acct(5),
  nora: acct(6),
  author: acct(7),
  /** The add-on's own bot user: comments it posts are authored by it. */
  app: acct(99),
} as const;

/** Prefixed: the key lands in every page's storage format (`ac:name`) beside other apps' macros. */
export const MACRO_KEY = 'attest-approvals';

/** The Approvals macro as Confluence stores it in the storage format. */
export function approvalsMacro(macroId: string, params: Record<string, string>): string {
  const ps = Object.entries(params)
    .map(([k, v]) => `<ac:parameter ac:name="${k}">${v}</ac:parameter>`)
    .join('');
  return `<ac:structured-macro ac:name="${MACRO_KEY}" ac:schema-version="1" ac:macro-id="${macroId}">${ps}</ac:structured-macro>`;
}

const macroId = (n: number) => `3f1c0d2e-0000-4000-9000-${String(n).padStart(12, '0')}`;

function version(number: number, title: string, authorId: string, createdAt: string, body: string): PageVersion {
  return { number, title, body, authorId, createdAt, message: '' };
}

function page(id: string, spaceKey: string, versions: PageVersion[], type: DevContentType = 'page'): DevPage {
  return { id, type, spaceKey, status: 'current', versions, restriction: null };
}

export const PAGE = {
  releaseChecklist: '65601',
  adrQueue: '65602',
  onCall: '65603',
  postmortem: '65604',
  accessReview: '65605',
  vendorRisk: '65606',
  /** Restricted to people the app is not among: Confluence hides it from the app. */
  boardMinutes: '65607',
  /** A blog post with the macro. */
  securityUpdate: '65608',
} as const;

export const MACRO = {
  releaseChecklist: macroId(1),
  adrQueue: macroId(2),
  onCall: macroId(3),
  postmortem: macroId(4),
  accessReview: macroId(5),
  vendorRiskSecurity: macroId(6),
  vendorRiskLegal: macroId(7),
  boardMinutes: macroId(8),
  securityUpdate: macroId(9),
} as const;

/** The RBAC role that administers ENG (Confluence's v2 space permissions name it as a `role` principal). */
export const ENG_ADMIN_ROLE = 'c0de0000-0000-4000-8000-00000000a001';

export function seedState(): DevState {
  const users: DevUser[] = [
    { accountId: ACCOUNT.siteAdmin, displayName: 'Sam Siteadmin', email: 'sam@devhost.test', siteAdmin: true, role: 'siteAdmin' },
    { accountId: ACCOUNT.spaceAdmin, displayName: 'Ada Spaceadmin', email: 'ada@devhost.test', siteAdmin: false, role: 'spaceAdmin' },
    { accountId: ACCOUNT.alice, displayName: 'Alice Approver', email: 'alice@devhost.test', siteAdmin: false, role: 'alice', locale: 'de-DE', timeZone: 'Europe/Berlin' },
    { accountId: ACCOUNT.bob, displayName: 'Bob Approver', email: 'bob@devhost.test', siteAdmin: false, role: 'bob', locale: 'en-US', timeZone: 'America/New_York' },
    { accountId: ACCOUNT.secMember, displayName: 'Sec Member', email: 'sec@devhost.test', siteAdmin: false, role: 'secMember' },
    { accountId: ACCOUNT.nora, displayName: 'Nora Noaccess', email: 'nora@devhost.test', siteAdmin: false, role: 'nora' },
    { accountId: ACCOUNT.author, displayName: 'Paul Author', email: 'paul@devhost.test', siteAdmin: false, role: 'author' },
  ];
  const everyone = users.map((u) => u.accountId);
  const groups = [
    { id: 'b0a10000-0000-4000-8000-000000000001', name: 'confluence-users', members: everyone },
    { id: 'b0a10000-0000-4000-8000-000000000002', name: 'site-admins', members: [ACCOUNT.siteAdmin] },
    { id: 'b0a10000-0000-4000-8000-000000000003', name: 'security', members: [ACCOUNT.secMember] },
    { id: 'b0a10000-0000-4000-8000-000000000004', name: 'engineering', members: [ACCOUNT.alice, ACCOUNT.bob, ACCOUNT.author] },
    // Bob is in three groups: more than memberof answers in one page here, so paging is exercised.
    { id: 'b0a10000-0000-4000-8000-000000000005', name: 'release-managers', members: [ACCOUNT.bob] },
  ];
  const perm = (id: number, type: 'user' | 'group' | 'role', principal: string, key: string): SpacePermission => ({
    id: String(id),
    principal: { type, id: principal },
    operation: { key, targetType: 'space' },
  });
  const spaces = [
    {
      id: '98305',
      key: 'ENG',
      name: 'Engineering',
      permissions: [
        perm(1001, 'group', groups[0].id, 'read'),
        perm(1002, 'group', groups[0].id, 'create'),
        perm(1003, 'user', ACCOUNT.spaceAdmin, 'administer'),
        // Sam administers ENG through a space role, as on sites that use Confluence's RBAC roles.
        perm(1004, 'role', ENG_ADMIN_ROLE, 'administer'),
        perm(1005, 'group', groups[3].id, 'create'),
      ],
      roleAssignments: [{ roleId: ENG_ADMIN_ROLE, principal: { principalType: 'USER' as const, principalId: ACCOUNT.siteAdmin } }],
    },
    {
      id: '98306',
      key: 'SEC',
      name: 'Security',
      permissions: [
        perm(2001, 'group', groups[0].id, 'read'),
        perm(2002, 'group', groups[2].id, 'create'),
        perm(2003, 'user', ACCOUNT.spaceAdmin, 'administer'),
        perm(2004, 'group', groups[1].id, 'administer'),
      ],
      roleAssignments: [],
    },
  ];

  const both = `${ACCOUNT.alice},${ACCOUNT.bob}`;
  const pages: DevPage[] = [
    page(PAGE.releaseChecklist, 'ENG', [
      version(1, 'Release checklist', ACCOUNT.author, '2025-11-03T09:00:00.000Z', '<p>Draft release checklist.</p>'),
      version(2, 'Release checklist', ACCOUNT.author, '2025-11-04T10:30:00.000Z',
        `<p>Steps before every release: tag, changelog, smoke test.</p>${approvalsMacro(MACRO.releaseChecklist, { approvers: both, rule: 'all' })}`),
      version(3, 'Release checklist', ACCOUNT.author, '2025-11-05T14:00:00.000Z',
        `<p>Steps before every release: tag, changelog, smoke test, rollback plan.</p>${approvalsMacro(MACRO.releaseChecklist, { approvers: both, rule: 'all' })}`),
    ]),
    // Separation of duties: the latest version is authored by one of its approvers.
    page(PAGE.adrQueue, 'ENG', [
      version(1, 'ADR-7: Message queue', ACCOUNT.author, '2025-11-06T08:00:00.000Z',
        `<p>We choose a queue.</p>${approvalsMacro(MACRO.adrQueue, { approvers: `${both},${ACCOUNT.spaceAdmin}`, rule: 'quorum', quorum: '2' })}`),
      version(2, 'ADR-7: Message queue', ACCOUNT.alice, '2025-11-07T11:15:00.000Z',
        `<p>We choose a queue with at-least-once delivery.</p>${approvalsMacro(MACRO.adrQueue, { approvers: `${both},${ACCOUNT.spaceAdmin}`, rule: 'quorum', quorum: '2' })}`),
    ]),
    page(PAGE.onCall, 'ENG', [
      version(1, 'On-call handbook', ACCOUNT.author, '2025-11-08T08:00:00.000Z',
        `<p>Who is on call and how to page them.</p>${approvalsMacro(MACRO.onCall, { approvers: both, rule: 'any' })}`),
      version(2, 'On-call handbook', ACCOUNT.author, '2025-11-09T08:00:00.000Z',
        `<p>Who is on call, how to page them, and escalation.</p>${approvalsMacro(MACRO.onCall, { approvers: both, rule: 'any', due: '2026-12-31' })}`),
    ]),
    // Restricted: Nora (and Sec) cannot read it.
    {
      ...page(PAGE.postmortem, 'ENG', [
        version(1, 'Incident 42 postmortem', ACCOUNT.author, '2025-11-10T08:00:00.000Z', '<p>Timeline to follow.</p>'),
        version(2, 'Incident 42 postmortem', ACCOUNT.author, '2025-11-10T16:00:00.000Z',
          `<p>Root cause: an expired certificate.</p>${approvalsMacro(MACRO.postmortem, { approvers: ACCOUNT.alice, rule: 'all' })}`),
      ]),
      // The app is among the people allowed: Attest works here as on any page.
      restriction: { users: [ACCOUNT.author, ACCOUNT.alice, ACCOUNT.bob, ACCOUNT.spaceAdmin, ACCOUNT.siteAdmin, ACCOUNT.app], groups: [] },
    },
    // Restricted without the app: Alice can read it, Attest cannot (Confluence answers the app 404).
    {
      ...page(PAGE.boardMinutes, 'ENG', [
        version(1, 'Board minutes (confidential)', ACCOUNT.author, '2025-11-16T08:00:00.000Z',
          `<p>Decisions of the board.</p>${approvalsMacro(MACRO.boardMinutes, { approvers: ACCOUNT.alice, rule: 'all' })}`),
      ]),
      restriction: { users: [ACCOUNT.author, ACCOUNT.alice, ACCOUNT.spaceAdmin], groups: [] },
    },
    page(PAGE.securityUpdate, 'SEC', [
      version(1, 'Security update: new laptop policy', ACCOUNT.author, '2025-11-17T08:00:00.000Z',
        `<p>From December every laptop needs disk encryption.</p>${approvalsMacro(MACRO.securityUpdate, { approvers: ACCOUNT.bob, rule: 'all' })}`),
    ], 'blogpost'),
    page(PAGE.accessReview, 'SEC', [
      version(1, 'Quarterly access review', ACCOUNT.author, '2025-11-11T08:00:00.000Z', '<p>Review who can reach production.</p>'),
      version(2, 'Quarterly access review', ACCOUNT.author, '2025-11-12T08:00:00.000Z',
        `<p>Review who can reach production; remove leavers.</p>${approvalsMacro(MACRO.accessReview, { groups: 'security', rule: 'any', review: '90' })}`),
      version(3, 'Quarterly access review', ACCOUNT.author, '2025-11-13T08:00:00.000Z',
        `<p>Review who can reach production; remove leavers; record evidence.</p>${approvalsMacro(MACRO.accessReview, { groups: 'security', rule: 'any', review: '90' })}`),
    ]),
    // Two macros on one page, one mixing people and a group.
    page(PAGE.vendorRisk, 'SEC', [
      version(1, 'Vendor risk assessment', ACCOUNT.author, '2025-11-14T08:00:00.000Z',
        `<p>Assessment of our hosting vendor.</p>${approvalsMacro(MACRO.vendorRiskSecurity, { approvers: ACCOUNT.bob, groups: 'security', rule: 'all' })}`),
      version(2, 'Vendor risk assessment', ACCOUNT.author, '2025-11-15T08:00:00.000Z',
        `<p>Assessment of our hosting vendor, with the contract review.</p>${approvalsMacro(MACRO.vendorRiskSecurity, { approvers: ACCOUNT.bob, groups: 'security', rule: 'all' })}<p>Legal sign-off:</p>${approvalsMacro(MACRO.vendorRiskLegal, { approvers: ACCOUNT.spaceAdmin, rule: 'all', rejections: '1' })}`),
    ]),
  ];

  return { format: STATE_FORMAT, users, groups, spaces, pages, comments: [], nextId: 70000 };
}
