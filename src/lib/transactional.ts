/**
 * The one way a service runs work in a transaction (Unleash's `withTransactional` is the model): `work` gets the
 * stores bound to the transaction (`Tx`), so no service method takes or passes a connection. The work commits
 * when it resolves and rolls back when it throws. Knex implements it in src/db/transactional.ts; unit tests use
 * the in-memory one in test/fakes.
 */
export interface Transactional<Tx> {
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
}
