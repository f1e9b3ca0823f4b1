import type { Knex } from 'knex';

/**
 * Space settings (defaults and policies per space) and the indexes behind the space dashboard and
 * "My approvals". The dashboard pages through one space in urgency order, one segment at a time
 * (see space-dashboard-store.ts); each segment is an ordered range scan of one of these indexes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('space_settings', (t) => {
    t.text('client_key').notNullable();
    t.text('space_key').notNullable();
    t.jsonb('settings').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('updated_by');
    t.primary(['client_key', 'space_key'], { constraintName: 'space_settings_pkey' });
  });

  // Segments by state, oldest first (open states) or newest first (closed states, scanned backwards).
  await knex.raw(`CREATE INDEX workflows_space_dashboard_idx ON workflows (client_key, space_key, state, created_at, id)`);
  // Overdue segment: open workflows with a due date, earliest due first.
  await knex.raw(`CREATE INDEX workflows_space_overdue_idx ON workflows (client_key, space_key, due_date, created_at, id)
    WHERE state IN ('pending', 'outdated', 'expired') AND due_date IS NOT NULL`);
  // My approvals: open workflows that list a person or a group.
  await knex.raw(`CREATE INDEX workflows_open_approvers_idx ON workflows USING gin (approvers) WHERE state IN ('pending', 'outdated', 'expired')`);
  await knex.raw(`CREATE INDEX workflows_open_groups_idx ON workflows USING gin (groups) WHERE state IN ('pending', 'outdated', 'expired')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS workflows_open_groups_idx');
  await knex.raw('DROP INDEX IF EXISTS workflows_open_approvers_idx');
  await knex.raw('DROP INDEX IF EXISTS workflows_space_overdue_idx');
  await knex.raw('DROP INDEX IF EXISTS workflows_space_dashboard_idx');
  await knex.schema.dropTable('space_settings');
}
