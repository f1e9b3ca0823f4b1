import type { Delegation } from '../approvals/delegation';
import type { AuditTx } from '../audit/audit-tx';
import type { Transactional } from '../lib/transactional';

export interface DelegationReads {
  /** The person's delegation that has not lapsed or been ended (active or upcoming on `day`). */
  currentOf(clientKey: string, delegatorId: string, day: string): Promise<Delegation | null>;
  /** Delegations naming the person as delegate that have not lapsed or been ended. */
  currentTo(clientKey: string, delegateId: string, day: string): Promise<Delegation[]>;
  activeTo(clientKey: string, delegateId: string, day: string): Promise<Delegation[]>;
  activeOf(clientKey: string, delegatorIds: string[], day: string): Promise<Delegation[]>;
}

/** Delegations inside a transaction. */
export interface DelegationWrites {
  /** The person's delegation that nobody ended (it may have lapsed by its date), locked until the transaction ends. */
  lockOpenOf(clientKey: string, delegatorId: string): Promise<Delegation | null>;
  insert(clientKey: string, d: Pick<Delegation, 'delegatorId' | 'delegateId' | 'startsOn' | 'endsOn'>): Promise<Delegation>;
  update(clientKey: string, id: string, d: Pick<Delegation, 'delegateId' | 'startsOn' | 'endsOn'>): Promise<Delegation>;
  end(clientKey: string, id: string, endedAt: Date): Promise<Delegation>;
}

export interface DelegationsTx {
  delegations: DelegationWrites;
  audit: AuditTx;
}

export interface DelegationsStores extends Transactional<DelegationsTx> {
  delegations: DelegationReads;
}
