import type { Knex } from 'knex';

/**
 * Issue #4: the webhook inbox, scheduler job runs, reminders, signed checkpoints, verification state
 * and the personal-data reporting cycle.
 */
export async function up(knex: Knex): Promise<void> {
  // Every page webhook is stored here before it is acted on (ACE answers 204 before our handler runs).
  await knex.schema.createTable('page_events', (t) => {
    t.text('client_key').notNullable();
    t.bigIncrements('id', { primaryKey: false });
    // event:pageId:version:timestamp — a second delivery of the same webhook is the same key.
    t.text('dedupe_key').notNullable();
    t.text('event').notNullable();
    t.text('page_id').notNullable();
    t.integer('page_version');
    // The webhook's own timestamp: orders trash/restore/remove whatever order they arrive in.
    t.timestamp('event_at', { useTz: true, precision: 3 }).notNullable();
    t.jsonb('payload').notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('processed_at', { useTz: true });
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('outcome');
    t.text('last_error');
    t.primary(['client_key', 'id'], { constraintName: 'page_events_pkey' });
    t.unique(['client_key', 'dedupe_key'], { indexName: 'page_events_dedupe_uq' });
    t.index(['client_key', 'page_id', 'event_at'], 'page_events_page_idx');
  });
  await knex.raw(`CREATE INDEX page_events_unprocessed_idx ON page_events (received_at) WHERE processed_at IS NULL`);

  // Not per tenant: one row per job and tick, so a tick runs once across every instance.
  await knex.schema.createTable('job_runs', (t) => {
    t.text('job').notNullable();
    t.timestamp('tick', { useTz: true }).notNullable();
    t.text('instance').notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true });
    t.text('outcome').notNullable().defaultTo('running');
    t.jsonb('counts').notNullable().defaultTo('{}');
    t.text('error');
    t.primary(['job', 'tick'], { constraintName: 'job_runs_pkey' });
  });
  await knex.raw(`ALTER TABLE job_runs ADD CONSTRAINT job_runs_outcome_check CHECK (outcome IN ('running', 'ok', 'failed'))`);

  await knex.schema.createTable('reminders', (t) => {
    t.text('client_key').notNullable();
    t.bigIncrements('id', { primaryKey: false });
    t.uuid('workflow_id').notNullable();
    t.integer('round').notNullable();
    // The people mentioned (personal data: erased with a closed account) and the groups named.
    t.specificType('account_ids', 'text[]').notNullable().defaultTo('{}');
    t.specificType('groups', 'text[]').notNullable().defaultTo('{}');
    t.timestamp('sent_at', { useTz: true }).notNullable();
    t.text('status').notNullable();
    t.text('comment_id');
    t.primary(['client_key', 'id'], { constraintName: 'reminders_pkey' });
    t.index(['client_key', 'workflow_id', 'sent_at'], 'reminders_workflow_idx');
  });
  await knex.raw(`ALTER TABLE reminders ADD CONSTRAINT reminders_status_check CHECK (status IN ('sending', 'sent'))`);

  await knex.schema.createTable('audit_checkpoints', (t) => {
    t.text('client_key').notNullable();
    t.bigInteger('seq').notNullable();
    t.binary('chain_hash').notNullable();
    t.timestamp('signed_at', { useTz: true, precision: 3 }).notNullable();
    // Ed25519 over the v1 message (docs/operations.md), base64.
    t.text('signature').notNullable();
    // hex SHA-256 of the public key's DER (SPKI).
    t.text('key_id').notNullable();
    t.primary(['client_key', 'seq'], { constraintName: 'audit_checkpoints_pkey' });
  });
  await knex.raw(`ALTER TABLE audit_checkpoints ADD CONSTRAINT audit_checkpoints_chain_hash_check CHECK (octet_length(chain_hash) = 32)`);

  await knex.schema.createTable('audit_verification', (t) => {
    t.text('client_key').primary({ constraintName: 'audit_verification_pkey' });
    t.text('status').notNullable();
    t.text('mode').notNullable();
    t.bigInteger('first_bad_seq');
    t.text('reason');
    t.bigInteger('verified_to_seq');
    t.timestamp('checked_at', { useTz: true }).notNullable();
  });
  await knex.raw(`ALTER TABLE audit_verification
    ADD CONSTRAINT audit_verification_status_check CHECK (status IN ('ok', 'failed')),
    ADD CONSTRAINT audit_verification_mode_check CHECK (mode IN ('incremental', 'full', 'checkpoint'))`);

  await knex.schema.createTable('privacy_cycles', (t) => {
    t.text('client_key').primary({ constraintName: 'privacy_cycles_pkey' });
    t.timestamp('next_due_at', { useTz: true }).notNullable();
    t.timestamp('retry_after', { useTz: true });
    t.timestamp('last_reported_at', { useTz: true });
    t.integer('last_reported').notNullable().defaultTo(0);
    t.integer('erased_total').notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('privacy_cycles');
  await knex.schema.dropTable('audit_verification');
  await knex.schema.dropTable('audit_checkpoints');
  await knex.schema.dropTable('reminders');
  await knex.schema.dropTable('job_runs');
  await knex.schema.dropTable('page_events');
}
