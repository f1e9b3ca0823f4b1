import type { Knex } from 'knex';
import type { Transactional } from '../lib/transactional';

/**
 * Transactions of `db` handing the work the stores `bind` makes for each one. The stores are built per
 * transaction, so the work sees only what the transaction sees and writes only inside it.
 */
export function withTransactional<Tx>(db: Knex, bind: (trx: Knex.Transaction) => Tx): Transactional<Tx> {
  return { transaction: (work) => db.transaction((trx) => work(bind(trx))) };
}
