import type { Knex } from 'knex';

/**
 * Delegation (issue 16): a person (the delegator) names a delegate for a range of days ("Out of office"); while
 * it is active the delegate decides on their behalf. A delegation is active from `starts_on` through `ends_on`
 * (UTC days, both included) until someone ends it (`ended_at`): nothing needs to run when it lapses, every reader
 * compares the dates with today. A person has at most one delegation not ended at a time.
 *
 * A decision made through one names both people: `approver_id` is the person it counts for (the rule counts
 * them), `delegate_id` who made it and `delegation_id` the delegation it used.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('delegations', (t) => {
    t.text('client_key').notNullable();
    t.uuid('id').notNullable().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('delegator_id').notNullable();
    t.text('delegate_id').notNullable();
    t.date('starts_on').notNullable();
    t.date('ends_on').notNullable();
    t.timestamp('ended_at', { useTz: true }).nullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['client_key', 'id'], { constraintName: 'delegations_pkey' });
    t.index(['client_key', 'delegate_id'], 'delegations_delegate_idx');
  });
  await knex.raw(`ALTER TABLE delegations ADD CONSTRAINT delegations_range_check CHECK (starts_on <= ends_on)`);
  await knex.raw(`ALTER TABLE delegations ADD CONSTRAINT delegations_not_self_check CHECK (delegator_id <> delegate_id)`);
  // One delegation not ended per person: two first saves at once cannot both create one.
  await knex.raw(`CREATE UNIQUE INDEX delegations_one_open_idx ON delegations (client_key, delegator_id) WHERE ended_at IS NULL`);
  // A macro render reads the tenant's delegations from the view cache: a change must empty it (migration 20261202000700).
  await knex.raw(`CREATE TRIGGER delegations_notify_tenant_change AFTER INSERT OR UPDATE OR DELETE ON delegations
    FOR EACH ROW EXECUTE FUNCTION attest_notify_tenant_change()`);
  await knex.raw(`CREATE TRIGGER delegations_notify_truncate AFTER TRUNCATE ON delegations
    FOR EACH STATEMENT EXECUTE FUNCTION attest_notify_truncate()`);

  await knex.schema.alterTable('decisions', (t) => {
    t.text('delegate_id').nullable();
    t.uuid('delegation_id').nullable();
  });
  await knex.raw(`ALTER TABLE decisions ADD CONSTRAINT decisions_delegation_check CHECK ((delegate_id IS NULL) = (delegation_id IS NULL))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE decisions DROP CONSTRAINT decisions_delegation_check');
  await knex.schema.alterTable('decisions', (t) => {
    t.dropColumn('delegation_id');
    t.dropColumn('delegate_id');
  });
  await knex.schema.dropTable('delegations');
}
