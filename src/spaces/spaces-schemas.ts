import { z } from 'zod';
import { spaceKeySchema } from '../confluence/confluence-ids';
import { safeText } from '../lib/safe-text';
import { DEFAULT_POLICY, SpacePolicy } from '../approvals/space-policy';

/** Confluence space keys: letters and digits; personal spaces start with "~". */
export const spaceKeyParams = z
  .object({ spaceKey: spaceKeySchema() })
  .strict();

const accountId = z.string().trim().min(1).max(128).regex(/^[A-Za-z0-9:_-]+$/, 'Default approvers must be Atlassian account IDs');
const groupName = safeText({ max: 255, name: 'Default approver groups: a group name' }).trim().min(1, 'Default approver groups: a group name must not be empty');
/** `label`: the field as the settings screen names it, so a message says what to change. */
const days = (label: string, max: number, unit = 'a number of days') =>
  z.number({ message: `${label} must be ${unit}` }).int(`${label} must be a whole number`).min(1, `${label} must be at least 1`).max(max, `${label} must be at most ${max}`);

/** PUT /api/spaces/:spaceKey/settings — the whole settings document (what GET returns under `settings`). */
export const settingsBody = z
  .object({
    allowSelfApproval: z.boolean({ message: '"Allow the author of a page version to approve it" must be true or false' }),
    // Optional so that a client written before delegation existed keeps working: it then stays allowed.
    allowDelegation: z.boolean({ message: '"Approvers may name a delegate while out of office" must be true or false' }).default(DEFAULT_POLICY.allowDelegation),
    resetOnEdit: z.enum(['content', 'any', 'never'], { message: '"When the page is edited" must be content, any or never' }),
    reminderCadenceDays: days('Remind approvers every … days', 365),
    exportRole: z.enum(['space-admins', 'site-admins'], { message: '"Who may export evidence" must be space-admins or site-admins' }),
    defaults: z
      .object({
        approvers: z.array(accountId).max(100, 'Default approvers: at most 100').transform((a) => [...new Set(a)]),
        groups: z.array(groupName).max(50, 'Default approver groups: at most 50').transform((a) => [...new Set(a)]),
        rule: z.enum(['all', 'any', 'quorum'], { message: 'Rule must be all, any or quorum' }),
        quorum: days('Quorum', 1000, 'a number of approvals').nullable(),
        rejections: days('Rejections that reject', 1000, 'a number'),
        dueOffsetDays: days('Due (days after the workflow starts)', 3650).nullable(),
        reviewDays: days('Review interval (days)', 3650).nullable(),
      })
      .strict(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.defaults.rule === 'quorum' && s.defaults.quorum === null) {
      ctx.addIssue({ code: 'custom', path: ['defaults', 'quorum'], message: 'A quorum rule needs a Quorum of 1 or more' });
    }
  })
  .transform((s): SpacePolicy => ({ ...s, defaults: { ...s.defaults, quorum: s.defaults.rule === 'quorum' ? s.defaults.quorum : null } }));

export const DASHBOARD_STATES = ['overdue', 'pending', 'outdated', 'expired', 'approved', 'rejected', 'archived'] as const;
export type DashboardFilter = (typeof DASHBOARD_STATES)[number];

export const workflowsQuery = z
  .object({
    state: z.preprocess((v) => (v === '' ? undefined : v), z.enum(DASHBOARD_STATES, { message: `state must be one of ${DASHBOARD_STATES.join(', ')}` }).optional()),
    cursor: z.string().max(500).regex(/^[A-Za-z0-9_-]*$/, 'cursor is not one this API gave out').optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    jwt: z.string().optional(),
  })
  .strict();

/**
 * Settings as stored may predate a field: every missing or malformed field falls back to the default,
 * so an old row never breaks the policy of a space.
 */
export function normaliseSettings(stored: unknown): SpacePolicy {
  const s = (stored && typeof stored === 'object' ? stored : {}) as Record<string, unknown>;
  const d = (s.defaults && typeof s.defaults === 'object' ? s.defaults : {}) as Record<string, unknown>;
  const D = DEFAULT_POLICY;
  const pick = <T>(v: unknown, ok: (x: unknown) => boolean, dflt: T): T => (ok(v) ? (v as T) : dflt);
  const isInt = (x: unknown) => Number.isInteger(x) && (x as number) >= 1;
  const intOrNull = (x: unknown) => x === null || isInt(x);
  const strings = (x: unknown) => Array.isArray(x) && x.every((y) => typeof y === 'string');
  return {
    allowSelfApproval: pick(s.allowSelfApproval, (x) => typeof x === 'boolean', D.allowSelfApproval),
    allowDelegation: pick(s.allowDelegation, (x) => typeof x === 'boolean', D.allowDelegation),
    resetOnEdit: pick(s.resetOnEdit, (x) => x === 'content' || x === 'any' || x === 'never', D.resetOnEdit),
    reminderCadenceDays: pick(s.reminderCadenceDays, isInt, D.reminderCadenceDays),
    exportRole: pick(s.exportRole, (x) => x === 'space-admins' || x === 'site-admins', D.exportRole),
    defaults: {
      approvers: pick(d.approvers, strings, [...D.defaults.approvers]),
      groups: pick(d.groups, strings, [...D.defaults.groups]),
      rule: pick(d.rule, (x) => x === 'all' || x === 'any' || x === 'quorum', D.defaults.rule),
      quorum: pick(d.quorum, intOrNull, D.defaults.quorum),
      rejections: pick(d.rejections, isInt, D.defaults.rejections),
      dueOffsetDays: pick(d.dueOffsetDays, intOrNull, D.defaults.dueOffsetDays),
      reviewDays: pick(d.reviewDays, intOrNull, D.defaults.reviewDays),
    },
  };
}
