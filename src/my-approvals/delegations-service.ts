import { DAY_MS } from '../approvals/approval-rules';
import { dayOf, Delegation, DelegationLookup } from '../approvals/delegation';
import type { ConfluenceClient } from '../confluence/confluence-client';
import type { Principal } from '../confluence/connect-auth';
import type { Clock } from '../lib/clock';
import { ConflictError, InputError, NotFoundError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { DelegationsStores } from './delegations-ports';

/** The longest "Out of office" one delegation covers; a longer absence is a change of approvers. */
export const MAX_DELEGATION_DAYS = 366;

export interface DelegationInput {
  delegateId: string;
  /** YYYY-MM-DD (UTC) */
  startsOn: string;
  endsOn: string;
}

/** What My approvals shows about delegation: the person's own, and whom they stand in for. */
export interface DelegationOverview {
  /** The person's delegation that has not lapsed or been ended (active now or upcoming); null when none. */
  mine: (Delegation & { active: boolean }) | null;
  /** Delegations naming the person as delegate that have not lapsed or been ended. */
  standingInFor: Array<Delegation & { active: boolean }>;
}

/**
 * "Out of office" (issue 16): a person names a delegate for a range of days, changes it, ends it. Each is an
 * audit event naming both people as refs. The delegation lapses at its end date by itself: every reader
 * compares the dates with today (`isActive`), so no job has to end it.
 */
export class DelegationsService implements DelegationLookup {
  constructor(
    private readonly deps: { stores: DelegationsStores; confluence: ConfluenceClient; clock: Clock; logger: Logger },
  ) {}

  private today(): string {
    return dayOf(this.deps.clock.now());
  }

  async overview(p: Principal): Promise<DelegationOverview> {
    const today = this.today();
    const [mine, toMe] = await Promise.all([this.deps.stores.delegations.currentOf(p.clientKey, p.accountId, today), this.deps.stores.delegations.currentTo(p.clientKey, p.accountId, today)]);
    const active = (d: Delegation) => ({ ...d, active: d.startsOn <= today });
    return { mine: mine ? active(mine) : null, standingInFor: toMe.map(active) };
  }

  /** Names a delegate, or changes the person's current delegation (one at a time). */
  async set(p: Principal, input: DelegationInput): Promise<{ delegation: Delegation; changed: boolean }> {
    const today = this.today();
    if (input.delegateId === p.accountId) throw new InputError('Name someone else as your delegate: you cannot delegate to yourself.');
    if (input.endsOn < input.startsOn) throw new InputError('The last day must not be before the first day.');
    if (input.endsOn < today) throw new InputError(`The last day (${input.endsOn}) has passed: choose a day from ${today} on.`);
    const days = (Date.parse(input.endsOn) - Date.parse(input.startsOn)) / DAY_MS + 1;
    if (days > MAX_DELEGATION_DAYS) throw new InputError(`A delegation covers at most ${MAX_DELEGATION_DAYS} days; for longer, change the approvers.`);
    // Confluence must know the delegate (asked before the transaction: no connection waits for it).
    if (!(await this.deps.confluence.getUser(p.clientKey, input.delegateId).catch(() => null))) {
      throw new InputError('The delegate is not a person on this site: pick one from the list.');
    }
    const result = await this.deps.stores.transaction(async (tx) => {
      let open = await tx.delegations.lockOpenOf(p.clientKey, p.accountId);
      // A delegation past its end date lapsed by itself: it is closed at its end, and a new one is named.
      if (open && open.endsOn < today) {
        await tx.delegations.end(p.clientKey, open.id, new Date(Date.parse(open.endsOn) + DAY_MS));
        open = null;
      }
      if (open && open.delegateId === input.delegateId && open.startsOn === input.startsOn && open.endsOn === input.endsOn) {
        return { delegation: open, changed: false };
      }
      // People become refs before the first append of the transaction (audit lock order).
      const [delegator, delegate, before] = await tx.audit.refs(p.clientKey, [p.accountId, input.delegateId, open?.delegateId ?? input.delegateId]);
      const delegation = open
        ? await tx.delegations.update(p.clientKey, open.id, input)
        : await tx.delegations.insert(p.clientKey, { delegatorId: p.accountId, ...input }).catch((err) => {
            if ((err as { code?: string }).code === '23505') throw new ConflictError('Your delegation was just saved from elsewhere: reload and try again.');
            throw err;
          });
      const data = { delegationId: delegation.id, delegator, delegate, startsOn: delegation.startsOn, endsOn: delegation.endsOn };
      await tx.audit.append(
        p.clientKey,
        open
          ? { action: 'delegation.changed', actor: { type: 'user', accountId: p.accountId }, data: { ...data, before: { delegate: before, startsOn: open.startsOn, endsOn: open.endsOn } } }
          : { action: 'delegation.set', actor: { type: 'user', accountId: p.accountId }, data },
      );
      return { delegation, changed: true };
    });
    if (result.changed) this.deps.logger.info({ clientKey: p.clientKey, delegationId: result.delegation.id }, 'delegation saved');
    return result;
  }

  /** Ends the person's current delegation now. */
  async end(p: Principal): Promise<Delegation> {
    const today = this.today();
    const ended = await this.deps.stores.transaction(async (tx) => {
      const open = await tx.delegations.lockOpenOf(p.clientKey, p.accountId);
      if (!open || open.endsOn < today) throw new NotFoundError('You have no delegation to end.');
      const [delegator, delegate] = await tx.audit.refs(p.clientKey, [p.accountId, open.delegateId]);
      const done = await tx.delegations.end(p.clientKey, open.id, this.deps.clock.now());
      await tx.audit.append(p.clientKey, {
        action: 'delegation.ended',
        actor: { type: 'user', accountId: p.accountId },
        data: { delegationId: open.id, delegator, delegate, startsOn: open.startsOn, endsOn: open.endsOn, endedOn: today },
      });
      return done;
    });
    this.deps.logger.info({ clientKey: p.clientKey, delegationId: ended.id }, 'delegation ended');
    return ended;
  }

  activeTo(clientKey: string, delegateId: string, day: string): Promise<Delegation[]> {
    return this.deps.stores.delegations.activeTo(clientKey, delegateId, day);
  }

  async activeOf(clientKey: string, delegatorIds: string[], day: string): Promise<Map<string, Delegation>> {
    return new Map((await this.deps.stores.delegations.activeOf(clientKey, delegatorIds, day)).map((d) => [d.delegatorId, d]));
  }
}
