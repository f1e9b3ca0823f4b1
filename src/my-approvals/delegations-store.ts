import type { Knex } from 'knex';
import type { PersonalDataHolder, StoredAccount } from '../db/personal-data';
import { type Delegation, type DelegationRow, toDelegation } from '../approvals/delegation';
import type { AuditLog } from '../audit/audit-log';
import { withTransactional } from '../db/transactional';
import type { DelegationReads, DelegationsStores, DelegationWrites } from './delegations-ports';

const DELEGATIONS = 'delegations';

export class DelegationsStore implements DelegationReads, PersonalDataHolder {
  constructor(private readonly db: Knex) {}

  /** The person's delegation that nobody ended (it may have lapsed by its date), locked until `trx` ends. */
  async lockOpenOf(clientKey: string, delegatorId: string, trx: Knex.Transaction): Promise<Delegation | null> {
    const row = await trx<DelegationRow>(DELEGATIONS).where({ client_key: clientKey, delegator_id: delegatorId }).whereNull('ended_at').forUpdate().first();
    return row ? toDelegation(row) : null;
  }

  /** The person's delegation that nobody ended and that has not lapsed by `day` (current or upcoming). */
  async currentOf(clientKey: string, delegatorId: string, day: string): Promise<Delegation | null> {
    const row = await this.db<DelegationRow>(DELEGATIONS)
      .where({ client_key: clientKey, delegator_id: delegatorId })
      .whereNull('ended_at')
      .where('ends_on', '>=', day)
      .first();
    return row ? toDelegation(row) : null;
  }

  /** Delegations naming this delegate that nobody ended and that have not lapsed by `day`, soonest first. */
  async currentTo(clientKey: string, delegateId: string, day: string): Promise<Delegation[]> {
    const rows = await this.db<DelegationRow>(DELEGATIONS)
      .where({ client_key: clientKey, delegate_id: delegateId })
      .whereNull('ended_at')
      .where('ends_on', '>=', day)
      .orderBy([{ column: 'starts_on' }, { column: 'id' }]);
    return rows.map(toDelegation);
  }

  async activeTo(clientKey: string, delegateId: string, day: string): Promise<Delegation[]> {
    const rows = await this.db<DelegationRow>(DELEGATIONS)
      .where({ client_key: clientKey, delegate_id: delegateId })
      .whereNull('ended_at')
      .where('starts_on', '<=', day)
      .where('ends_on', '>=', day)
      .orderBy('id');
    return rows.map(toDelegation);
  }

  async activeOf(clientKey: string, delegatorIds: string[], day: string): Promise<Delegation[]> {
    if (!delegatorIds.length) return [];
    const rows = await this.db<DelegationRow>(DELEGATIONS)
      .where({ client_key: clientKey })
      .whereIn('delegator_id', delegatorIds)
      .whereNull('ended_at')
      .where('starts_on', '<=', day)
      .where('ends_on', '>=', day);
    return rows.map(toDelegation);
  }

  async insert(clientKey: string, d: Pick<Delegation, 'delegatorId' | 'delegateId' | 'startsOn' | 'endsOn'>, trx: Knex.Transaction): Promise<Delegation> {
    const [row] = await trx<DelegationRow>(DELEGATIONS)
      .insert({ client_key: clientKey, delegator_id: d.delegatorId, delegate_id: d.delegateId, starts_on: d.startsOn, ends_on: d.endsOn })
      .returning('*');
    return toDelegation(row as DelegationRow);
  }

  async update(clientKey: string, id: string, d: Pick<Delegation, 'delegateId' | 'startsOn' | 'endsOn'>, trx: Knex.Transaction): Promise<Delegation> {
    const [row] = await trx<DelegationRow>(DELEGATIONS)
      .where({ client_key: clientKey, id })
      .update({ delegate_id: d.delegateId, starts_on: d.startsOn, ends_on: d.endsOn, updated_at: trx.fn.now() as unknown as Date })
      .returning('*');
    return toDelegation(row as DelegationRow);
  }

  /** Ends a delegation (`endedAt`: when; a lapsed one is closed at its end date so that a new one can be named). */
  async end(clientKey: string, id: string, endedAt: Date, trx: Knex.Transaction): Promise<Delegation> {
    const [row] = await trx<DelegationRow>(DELEGATIONS)
      .where({ client_key: clientKey, id })
      .update({ ended_at: endedAt, updated_at: trx.fn.now() as unknown as Date })
      .returning('*');
    return toDelegation(row as DelegationRow);
  }

  /** Both people of every delegation. */
  async accountsStored(clientKey: string): Promise<StoredAccount[]> {
    const rows = await this.db(DELEGATIONS).where({ client_key: clientKey }).select('delegator_id', 'delegate_id', 'updated_at');
    return rows.flatMap((r: { delegator_id: string; delegate_id: string; updated_at: Date }) => [
      { accountId: r.delegator_id, at: r.updated_at },
      { accountId: r.delegate_id, at: r.updated_at },
    ]);
  }

  /** A delegation is no evidence (the chain records it, by refs): one naming a closed account goes. */
  async eraseAccount(clientKey: string, accountId: string, _marker: string, trx: Knex.Transaction): Promise<number> {
    return trx(DELEGATIONS)
      .where({ client_key: clientKey })
      .where((q) => q.where('delegator_id', accountId).orWhere('delegate_id', accountId))
      .delete();
  }

}

/** The delegations service's stores: reads on the pool, and transactions with the delegations and the audit chain bound to them. */
export function delegationsStores(db: Knex, deps: { store: DelegationsStore; audit: AuditLog }): DelegationsStores {
  const writesIn = (trx: Knex.Transaction): DelegationWrites => ({
    lockOpenOf: (ck, delegatorId) => deps.store.lockOpenOf(ck, delegatorId, trx),
    insert: (ck, d) => deps.store.insert(ck, d, trx),
    update: (ck, id, d) => deps.store.update(ck, id, d, trx),
    end: (ck, id, endedAt) => deps.store.end(ck, id, endedAt, trx),
  });
  return { delegations: deps.store, transaction: withTransactional(db, (trx) => ({ delegations: writesIn(trx), audit: deps.audit.in(trx) })).transaction };
}
