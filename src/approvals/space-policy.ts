import type { Rule } from './approval-rules';

export type ResetOnEdit = 'content' | 'any' | 'never';

/** What a space decides for the workflows in it (the space settings screen edits this). */
export interface SpacePolicy {
  /** May the author of the bound page version approve it? A ceiling: macros cannot allow more. */
  allowSelfApproval: boolean;
  /** May approvers name a delegate who decides on their behalf while they are out of office (issue 16)? */
  allowDelegation: boolean;
  /** When a page edit resets approvals: content changed (default), any edit, or never. */
  resetOnEdit: ResetOnEdit;
  /** Days between reminders to approvers who have not acted. */
  reminderCadenceDays: number;
  /** Who may export the space's evidence. */
  exportRole: 'space-admins' | 'site-admins';
  /** Defaults a macro inherits for parameters it leaves empty. */
  defaults: {
    approvers: string[];
    groups: string[];
    rule: Rule;
    quorum: number | null;
    rejections: number;
    dueOffsetDays: number | null;
    reviewDays: number | null;
  };
}

export const DEFAULT_POLICY: SpacePolicy = Object.freeze({
  allowSelfApproval: false,
  allowDelegation: true,
  resetOnEdit: 'content',
  reminderCadenceDays: 7,
  exportRole: 'space-admins',
  defaults: Object.freeze({ approvers: [], groups: [], rule: 'all', quorum: null, rejections: 1, dueOffsetDays: null, reviewDays: null }),
}) as SpacePolicy;

/** A space's policy; inside a transaction, the bound stores' own provider reads what the transaction sees. */
export interface SpacePolicyProvider {
  policyFor(clientKey: string, spaceKey: string): Promise<SpacePolicy>;
}
