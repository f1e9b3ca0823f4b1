import type { Knex } from 'knex';

/**
 * The Idempotency-Key a client sent with a decision, per tenant and workflow, written in the decision's own
 * transaction: a retry with the same key (the first answer was lost to an outage) gets the recorded decision
 * back instead of recording a second one. `request_hash` tells a true repeat from a different request reusing
 * the key. No accountId here: who decided is the referenced decision's approver (which erasure rewrites).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('decision_requests', (t) => {
    t.text('client_key').notNullable();
    t.uuid('workflow_id').notNullable();
    t.text('idempotency_key').notNullable();
    // hex SHA-256 of the request's decision, comment and page version.
    t.text('request_hash').notNullable();
    t.bigInteger('decision_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['client_key', 'workflow_id', 'idempotency_key'], { constraintName: 'decision_requests_pkey' });
    t.foreign(['client_key', 'workflow_id'], 'decision_requests_workflow_fk').references(['client_key', 'id']).inTable('workflows');
    t.foreign(['client_key', 'decision_id'], 'decision_requests_decision_fk').references(['client_key', 'id']).inTable('decisions');
    t.unique(['client_key', 'decision_id'], { indexName: 'decision_requests_decision_uq' });
  });
  await knex.raw(`ALTER TABLE decision_requests ADD CONSTRAINT decision_requests_key_check
    CHECK (length(idempotency_key) BETWEEN 1 AND 200 AND idempotency_key ~ '^[\\x20-\\x7E]+$')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('decision_requests');
}
