import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('workflows', (t) => {
    t.text('client_key').notNullable();
    t.uuid('id').notNullable().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('page_id').notNullable();
    t.text('macro_id').notNullable();
    t.text('space_key').notNullable();
    t.text('page_title').notNullable().defaultTo('');
    t.text('state').notNullable();
    // Where an archived workflow goes back to when its page is restored.
    t.text('state_before_archive');
    t.text('rule').notNullable();
    t.integer('quorum');
    t.integer('rejections').notNullable().defaultTo(1);
    t.specificType('approvers', 'text[]').notNullable().defaultTo('{}');
    t.specificType('groups', 'text[]').notNullable().defaultTo('{}');
    t.date('due_date');
    t.integer('review_days');
    t.integer('bound_version').notNullable();
    t.text('body_hash');
    t.text('bound_author_id');
    // Decisions count only in the current round; an edit of the content or an expiry starts a new one.
    t.integer('round').notNullable().defaultTo(1);
    t.timestamp('approved_at', { useTz: true });
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('last_decision_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['client_key', 'id'], { constraintName: 'workflows_pkey' });
    t.unique(['client_key', 'page_id', 'macro_id'], { indexName: 'workflows_page_macro_uq' });
    t.index(['client_key', 'space_key', 'state'], 'workflows_space_state_idx');
  });
  await knex.raw(`ALTER TABLE workflows ADD CONSTRAINT workflows_state_check
    CHECK (state IN ('pending', 'approved', 'rejected', 'outdated', 'expired', 'archived'))`);
  await knex.raw(`ALTER TABLE workflows ADD CONSTRAINT workflows_rule_check CHECK (rule IN ('all', 'any', 'quorum'))`);

  await knex.schema.createTable('decisions', (t) => {
    t.text('client_key').notNullable();
    t.bigIncrements('id', { primaryKey: false });
    t.uuid('workflow_id').notNullable();
    t.text('approver_id').notNullable();
    t.text('decision').notNullable();
    t.text('comment').notNullable().defaultTo('');
    t.integer('page_version').notNullable();
    t.integer('round').notNullable();
    // The listed groups through which the approver could decide, at the time of deciding.
    t.specificType('via_groups', 'text[]').notNullable().defaultTo('{}');
    t.timestamp('decided_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['client_key', 'id'], { constraintName: 'decisions_pkey' });
    t.foreign(['client_key', 'workflow_id'], 'decisions_workflow_fk').references(['client_key', 'id']).inTable('workflows');
    t.index(['client_key', 'workflow_id', 'round', 'approver_id'], 'decisions_workflow_round_idx');
    t.index(['client_key', 'approver_id'], 'decisions_approver_idx');
  });
  await knex.raw(`ALTER TABLE decisions ADD CONSTRAINT decisions_decision_check CHECK (decision IN ('approve', 'reject'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('decisions');
  await knex.schema.dropTable('workflows');
}
