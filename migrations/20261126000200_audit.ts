import type { Knex } from 'knex';

/**
 * The hash-chained audit trail (format v1, see docs/audit-format.md). One chain per tenant:
 * `audit_heads` is the lock that serialises appends, `audit_events` is append-only (enforced by a trigger),
 * `audit_subjects` is the only place where an accountId meets the chain.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_subjects', (t) => {
    t.text('client_key').notNullable();
    t.text('account_id').notNullable();
    t.binary('salt').notNullable();
    // hex SHA-256(salt ‖ utf8(account_id)): what the chain records instead of the accountId.
    t.text('ref').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['client_key', 'account_id'], { constraintName: 'audit_subjects_pkey' });
    t.unique(['client_key', 'ref'], { indexName: 'audit_subjects_ref_key' });
  });
  await knex.raw(`ALTER TABLE audit_subjects
    ADD CONSTRAINT audit_subjects_salt_check CHECK (octet_length(salt) = 16),
    ADD CONSTRAINT audit_subjects_ref_check CHECK (ref ~ '^[0-9a-f]{64}$')`);

  await knex.schema.createTable('audit_heads', (t) => {
    t.text('client_key').primary({ constraintName: 'audit_heads_pkey' });
    t.bigInteger('seq').notNullable().defaultTo(0);
    // Null until the first event (the genesis hash is derived from client_key, never stored).
    t.binary('chain_hash');
    // The `at` of the last event: appends never take a time before it.
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE audit_heads
    ADD CONSTRAINT audit_heads_seq_check CHECK (seq >= 0),
    ADD CONSTRAINT audit_heads_chain_hash_check CHECK ((seq = 0) = (chain_hash IS NULL) AND (chain_hash IS NULL OR octet_length(chain_hash) = 32))`);

  await knex.schema.createTable('audit_events', (t) => {
    t.text('client_key').notNullable();
    t.bigInteger('seq').notNullable();
    t.timestamp('recorded_at', { useTz: true, precision: 6 }).notNullable();
    t.text('action').notNullable();
    // Lookup columns; the canonical text is the record, these are copies of its fields.
    t.text('space_key');
    t.text('page_id');
    t.text('workflow_id');
    t.text('actor_ref');
    t.text('canonical').notNullable();
    t.binary('leaf_hash').notNullable();
    t.binary('chain_hash').notNullable();
    // The last guard against a fork: two appends can never both take the same seq.
    t.primary(['client_key', 'seq'], { constraintName: 'audit_events_pkey' });
    t.index(['client_key', 'space_key', 'seq'], 'audit_events_space_idx');
    t.index(['client_key', 'workflow_id', 'seq'], 'audit_events_workflow_idx');
    t.index(['client_key', 'recorded_at'], 'audit_events_recorded_at_idx');
  });
  await knex.raw(`ALTER TABLE audit_events
    ADD CONSTRAINT audit_events_seq_check CHECK (seq >= 1),
    ADD CONSTRAINT audit_events_leaf_hash_check CHECK (octet_length(leaf_hash) = 32),
    ADD CONSTRAINT audit_events_chain_hash_check CHECK (octet_length(chain_hash) = 32)`);

  await knex.raw(`
    CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END
    $$`);
  await knex.raw(`
    CREATE TRIGGER audit_events_no_update_delete
      BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`);
  await knex.raw(`
    CREATE TRIGGER audit_events_no_truncate
      BEFORE TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_events');
  await knex.raw('DROP FUNCTION audit_events_append_only()');
  await knex.schema.dropTable('audit_heads');
  await knex.schema.dropTable('audit_subjects');
}
