/**
 * Delegation (issue 16): who may decide on someone's behalf, and when. Pure apart from the lookup interface,
 * which the My approvals feature implements (it owns the `delegations` table) and app.ts hands to the services.
 */
import { decideRefusal, DecideRefusal, WorkflowState } from './approval-rules';

/** A person's "Out of office": `delegateId` decides for `delegatorId` from `startsOn` through `endsOn` (UTC days). */
export interface Delegation {
  id: string;
  delegatorId: string;
  delegateId: string;
  /** YYYY-MM-DD, first day it is active. */
  startsOn: string;
  /** YYYY-MM-DD, last day it is active (included). */
  endsOn: string;
  /** When someone ended it before its end date; null otherwise. */
  endedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A `delegations` row (the My approvals feature owns the table; the view cache reads it too). */
export interface DelegationRow {
  client_key: string;
  id: string;
  delegator_id: string;
  delegate_id: string;
  starts_on: string | Date;
  ends_on: string | Date;
  ended_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** pg gives `date` columns as text when the type parser says so, else as a Date at local midnight: always YYYY-MM-DD. */
function day(v: string | Date): string {
  if (typeof v === 'string') return v.slice(0, 10);
  const y = v.getFullYear();
  return `${y}-${String(v.getMonth() + 1).padStart(2, '0')}-${String(v.getDate()).padStart(2, '0')}`;
}

export function toDelegation(r: DelegationRow): Delegation {
  return {
    id: r.id,
    delegatorId: r.delegator_id,
    delegateId: r.delegate_id,
    startsOn: day(r.starts_on),
    endsOn: day(r.ends_on),
    endedAt: r.ended_at ?? null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** The UTC day of a moment, as delegations name days. */
export function dayOf(now: Date): string {
  return now.toISOString().slice(0, 10);
}

/** Active on `day`: not ended, and the day is inside its range. It lapses by itself after `endsOn`. */
export function isActive(d: Pick<Delegation, 'startsOn' | 'endsOn' | 'endedAt'>, day: string): boolean {
  return d.endedAt === null && d.startsOn <= day && day <= d.endsOn;
}

/** Where the services read delegations (implemented in src/my-approvals). */
export interface DelegationLookup {
  /** Delegations active on `day` naming this person as the delegate. */
  activeTo(clientKey: string, delegateId: string, day: string): Promise<Delegation[]>;
  /** For each of these people, their delegation active on `day` (people without one are absent). */
  activeOf(clientKey: string, delegatorIds: string[], day: string): Promise<Map<string, Delegation>>;
}

/** Why a delegate may not decide for the delegator now; null when they may. */
export type OnBehalfRefusal = DecideRefusal | 'delegate-is-author' | 'delegation-forbidden';

/**
 * May `delegateId` decide on this workflow for `delegatorId`? The space must allow delegation; separation of
 * duties holds for both people: the delegate may not be the author of the bound version (an author cannot
 * approve through a delegation), and the delegator must be someone who may decide (`decideRefusal`, with the
 * delegator's own listing and groups — what was delegated to the delegator is not theirs to pass on).
 */
export function onBehalfRefusal(
  wf: { approvers: readonly string[]; boundAuthorId: string | null; state: WorkflowState },
  delegatorId: string,
  delegateId: string,
  delegatorViaGroups: readonly string[],
  policy: { allowSelfApproval: boolean; allowDelegation: boolean },
): OnBehalfRefusal | null {
  if (!policy.allowDelegation) return 'delegation-forbidden';
  if (!policy.allowSelfApproval && wf.boundAuthorId !== null && wf.boundAuthorId === delegateId) return 'delegate-is-author';
  return decideRefusal(wf, delegatorId, delegatorViaGroups, policy.allowSelfApproval);
}
