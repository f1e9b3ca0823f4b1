/**
 * The audit action catalogue: every action Attest appends to the chain, what it is about and the shape of its
 * `data`. One home: `AuditEventInput` accepts only these actions with these shapes (checked by the compiler at
 * each append and by `AuditLog.append` at run time), and docs/audit-format.md's "Audit actions" table is
 * generated from here (`auditActionsTable`, held to the document by a test).
 *
 * A schema describes the data appended from now on. Events already in a chain keep the shape they were written
 * with (the canonical text is the record): readers must not assume older events carry every field listed here.
 */
import { z } from 'zod';

const int = z.number().int();
const ref = z.string().regex(/^[0-9a-f]{64}$/);
/** The macro title of a titled workflow, on every event about it (the CSV's `workflow_title`). */
const workflowTitle = z.string().optional().describe('the macro title, when the workflow has one');

/** Where a staged workflow stands among its page's ordered stages (the CSV's `stage`). */
const stagePlace = z.strictObject({
  position: int.min(1),
  count: int.min(1),
  after: z.string().nullable(),
});
const stage = stagePlace.optional().describe("when the workflow is a stage: `position`, `count` and `after` (the title of the stage it waits for, or null)");
/** The same, on a stage's own events, where it is always there. */
const stageRequired = stagePlace.describe('`position`, `count` and `after` (the title of the stage it waits for, or null)');

const workflowConfig = z.strictObject({
  title: z.string().nullable(),
  after: z.string().optional(),
  rule: z.string(),
  quorum: int.nullable(),
  rejections: int,
  approvers: z.array(ref),
  groups: z.array(z.string()),
  due: z.string().nullable(),
  reviewDays: int.nullable(),
});

const spaceSettings = z.strictObject({
  allowSelfApproval: z.boolean(),
  // Written since issue 16; settings events from before it do not carry it.
  allowDelegation: z.boolean().optional(),
  resetOnEdit: z.string(),
  reminderCadenceDays: int,
  exportRole: z.string(),
  defaults: z.strictObject({
    approvers: z.array(ref),
    groups: z.array(z.string()),
    rule: z.string(),
    quorum: int.nullable(),
    rejections: int,
    dueOffsetDays: int.nullable(),
    reviewDays: int.nullable(),
  }),
});

const decision = z.strictObject({
  decision: z.enum(['approve', 'reject']).describe('`approve` or `reject`'),
  comment: z.string().describe("the approver's comment, empty when none"),
  round: int.describe('the round decided in; a new round starts after a reset or an expiry'),
  viaGroups: z.array(z.string()).describe('the listed groups through which the person could decide'),
  onBehalfOf: ref.optional().describe('when a delegate decided: the person it counts for (the actor is the delegate)'),
  delegationId: z.string().optional().describe('when a delegate decided: the delegation used (see `delegation.set`)'),
  stage,
  workflowTitle,
});

const delegation = {
  delegationId: z.string().describe('the delegation'),
  delegator: ref.describe('the person who is out of office'),
  delegate: ref.describe('the person who decides for them'),
  startsOn: z.string().describe('first day it is active (YYYY-MM-DD, UTC)'),
  endsOn: z.string().describe('last day it is active, included (YYYY-MM-DD, UTC)'),
};

const closed = z.strictObject({
  round: int,
  approvals: int.optional().describe('approvals counted, when a decision settled it'),
  rejections: int.optional().describe('rejections counted, when a decision settled it'),
  expiresAt: z.string().nullable().optional().describe('when an approval lapses under the review interval (ISO 8601), or null'),
  cause: z.string().optional().describe('`configuration changed` when a new configuration settled it'),
  workflowTitle,
});

const newVersion = z.strictObject({
  fromVersion: int.describe('the page version bound before'),
  toVersion: int.describe('the page version bound now'),
  contentChanged: z.boolean().describe('whether the body hash differs'),
  resetOnEdit: z.string().describe("the space's policy: `content`, `any` or `never`"),
  previousState: z.string(),
  cause: z.string().describe('`render` or `webhook`'),
  reason: z.string().describe('the rule that applied, in words'),
  workflowTitle,
});

const archived = z.strictObject({
  previousState: z.string().describe('the state before archiving'),
  cause: z.string().describe('the Confluence event'),
  workflowTitle,
});

const restored = z.strictObject({
  state: z.string().describe('the state restored'),
  cause: z.string().describe('the Confluence event'),
  workflowTitle,
});

/** What an action is about, i.e. which of the canonical `space`, `page`, `workflow` it names. */
type About = 'workflow' | 'space' | 'tenant';

interface ActionSpec {
  about: About;
  /** When it is appended, in words. */
  when: string;
  data: z.ZodObject;
}

export const AUDIT_ACTIONS = {
  'workflow.created': {
    about: 'workflow',
    when: 'the first render of an Approvals macro creates its workflow',
    data: z.strictObject({ macroId: z.string(), config: workflowConfig.describe('`title`, `rule`, `quorum`, `rejections`, `approvers` (refs), `groups`, `due`, `reviewDays`'), workflowTitle }),
  },
  'workflow.configured': {
    about: 'workflow',
    when: "someone saves the macro's parameters with a different configuration",
    data: z.strictObject({
      before: workflowConfig.describe('the configuration before, as in `workflow.created`'),
      after: workflowConfig.describe('the configuration after'),
      state: z.string().describe('the state after the change'),
      workflowTitle,
    }),
  },
  'decision.approved': { about: 'workflow', when: 'an approver approves', data: decision },
  'decision.rejected': { about: 'workflow', when: 'an approver rejects', data: decision },
  'workflow.approved': { about: 'workflow', when: 'the rule is met (after a decision or a new configuration)', data: closed },
  'workflow.rejected': { about: 'workflow', when: 'enough rejections (after a decision or a new configuration)', data: closed },
  'workflow.outdated': {
    about: 'workflow',
    when: "a new page version under the space's reset policy: decisions of the old round no longer count",
    data: newVersion,
  },
  'workflow.rebound': {
    about: 'workflow',
    when: 'a new page version that keeps the decisions (metadata only, the policy keeps them, or nobody had decided)',
    data: newVersion,
  },
  'workflow.moved': {
    about: 'workflow',
    when: 'the page moved to another space; the workflow follows it',
    data: z.strictObject({
      fromSpace: z.string().nullable(),
      toSpace: z.string(),
      cause: z.string().describe('`render`, `webhook` or `decision`: what noticed the move'),
      workflowTitle,
    }),
  },
  'workflow.archived': { about: 'workflow', when: 'the page was trashed or archived in Confluence', data: archived },
  'workflow.restored': { about: 'workflow', when: 'the page came back from the trash or the archive', data: restored },
  'workflow.expired': {
    about: 'workflow',
    when: 'the review interval since approval passed (recertification): a new round starts',
    data: z.strictObject({
      approvedAt: z.string(),
      reviewDays: int,
      previousRound: int,
      round: int,
      reason: z.string(),
      workflowTitle,
    }),
  },
  'stage.opened': {
    about: 'workflow',
    when: 'the stage before it was approved: its approvers can decide now',
    data: z.strictObject({
      stage: stageRequired,
      round: int.describe('the round its approvers decide in'),
      workflowTitle,
    }),
  },
  'stage.approved': {
    about: 'workflow',
    when: "a stage's rule is met (with its `workflow.approved`): the next stage opens, or the page's approval is complete",
    data: z.strictObject({
      stage: stageRequired,
      round: int,
      next: z.string().nullable().describe('the title of the stage that opens now, or null after the last stage'),
      sequenceApproved: z.boolean().describe('every stage of the page is approved'),
      workflowTitle,
    }),
  },
  'stage.rejected': {
    about: 'workflow',
    when: "a stage is rejected (with its `workflow.rejected`): the page's approval is rejected",
    data: z.strictObject({
      stage: stageRequired,
      round: int,
      workflowTitle,
    }),
  },
  'stage.reset': {
    about: 'workflow',
    when: 'a content edit under the reset policy, or the expiry of a stage, sends the stage back to the start of the sequence: a new round',
    data: z.strictObject({
      stage: stageRequired,
      previousRound: int,
      round: int,
      cause: z.enum(['edit', 'expiry']).describe('`edit` or `expiry`'),
      reason: z.string().describe('why, in words'),
      workflowTitle,
    }),
  },
  'settings.changed': {
    about: 'space',
    when: "a space admin saves the space's settings with a change",
    data: z.strictObject({
      before: spaceSettings.describe('`allowSelfApproval`, `resetOnEdit`, `reminderCadenceDays`, `exportRole`, `defaults` (approvers as refs)'),
      after: spaceSettings.describe('the settings after'),
      changed: z.array(z.string()).describe('the fields that changed, e.g. `defaults.rule`'),
    }),
  },
  'delegation.set': {
    about: 'tenant',
    when: 'a person names a delegate for a range of days in My approvals ("Out of office")',
    data: z.strictObject(delegation),
  },
  'delegation.changed': {
    about: 'tenant',
    when: 'a person changes the delegate or the days of their delegation',
    data: z.strictObject({
      ...delegation,
      before: z.strictObject({ delegate: ref, startsOn: z.string(), endsOn: z.string() }).describe('`delegate`, `startsOn`, `endsOn` before the change'),
    }),
  },
  'delegation.ended': {
    about: 'tenant',
    when: 'a person ends their delegation before its end date (one that reaches its end date lapses without an event)',
    data: z.strictObject({ ...delegation, endedOn: z.string().describe('the day it was ended (YYYY-MM-DD, UTC)') }),
  },
  'subject.erased': {
    about: 'tenant',
    when: "a closed account's personal data was erased (the chain keeps the ref)",
    data: z.strictObject({ ref: ref.nullable().describe('the erased person'), reason: z.string() }),
  },
  'calendar-feed.created': {
    about: 'space',
    when: "a space admin created the space's calendar subscription URL",
    data: z.strictObject({ showTitles: z.boolean().describe('whether its events name pages by title') }),
  },
  'calendar-feed.rotated': {
    about: 'space',
    when: 'a space admin replaced the calendar subscription URL: the old URL stopped working',
    data: z.strictObject({ showTitles: z.boolean().describe('whether its events name pages by title') }),
  },
  'calendar-feed.configured': {
    about: 'space',
    when: 'a space admin changed whether the calendar subscription shows page titles',
    data: z.strictObject({ showTitles: z.boolean().describe('the setting after the change') }),
  },
  'calendar-feed.revoked': {
    about: 'space',
    when: 'a space admin revoked the calendar subscription URL: it answers 404 from then on',
    data: z.strictObject({ showTitles: z.boolean().describe('what the revoked feed showed') }),
  },
  'checkpoint-trail.enabled': {
    about: 'space',
    when: 'a site admin started the checkpoint trail page in a space',
    data: z.strictObject({ space: z.string(), url: z.string().nullable().describe('the trail page') }),
  },
} as const satisfies Record<string, ActionSpec>;

export type AuditAction = keyof typeof AUDIT_ACTIONS;
export type AuditData<A extends AuditAction> = z.input<(typeof AUDIT_ACTIONS)[A]['data']>;

export const AUDIT_ACTION_NAMES = Object.keys(AUDIT_ACTIONS) as AuditAction[];

export function isAuditAction(action: string): action is AuditAction {
  return Object.prototype.hasOwnProperty.call(AUDIT_ACTIONS, action);
}

/** Why `data` is not what the catalogue says `action` carries; null when it is. */
export function auditDataProblem(action: string, data: unknown): string | null {
  if (!isAuditAction(action)) return `${JSON.stringify(action)} is not in the audit action catalogue (src/audit/audit-actions.ts)`;
  const r = AUDIT_ACTIONS[action].data.safeParse(data);
  if (r.success) return null;
  const issue = r.error.issues[0];
  return `${action} data: ${issue.path.join('.') || '(root)'}: ${issue.message}`;
}

const ABOUT: Record<About, string> = {
  workflow: 'space, page, workflow',
  space: 'space',
  tenant: '—',
};

/** The Markdown table of docs/audit-format.md's "Audit actions" section. */
export function auditActionsTable(): string {
  const lines = ['| action | names | appended when | `data` fields |', '|---|---|---|---|'];
  for (const name of AUDIT_ACTION_NAMES) {
    const spec: ActionSpec = AUDIT_ACTIONS[name];
    const fields = Object.entries(spec.data.shape).map(([key, schema]) => {
      const s = schema as z.ZodType;
      const optional = s.safeParse(undefined).success;
      const about = s.description ? ` — ${s.description}` : '';
      return `\`${key}\`${optional ? '?' : ''}${about}`;
    });
    lines.push(`| \`${name}\` | ${ABOUT[spec.about]} | ${spec.when} | ${fields.join('; ')} |`);
  }
  return lines.join('\n');
}
