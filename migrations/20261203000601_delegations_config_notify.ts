import type { Knex } from 'knex';

/**
 * Delegations join the installation and space settings on `attest_tenant_config_change` (migration
 * 20261203000501, whose trigger functions this reuses): the decision's answer lists whom its caller may decide
 * for, read from the per-tenant cache of delegations nobody ended, and a decision (a write to `workflows` and
 * `decisions`) must not empty that cache — only a change to `delegations` does. The cache is for what a view
 * shows; deciding on someone's behalf still reads the delegation in the database.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TRIGGER delegations_notify_tenant_config_change AFTER INSERT OR UPDATE OR DELETE ON delegations
    FOR EACH ROW EXECUTE FUNCTION attest_notify_tenant_config_change()`);
  await knex.raw(`CREATE TRIGGER delegations_notify_config_truncate AFTER TRUNCATE ON delegations
    FOR EACH STATEMENT EXECUTE FUNCTION attest_notify_config_truncate()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER IF EXISTS delegations_notify_config_truncate ON delegations');
  await knex.raw('DROP TRIGGER IF EXISTS delegations_notify_tenant_config_change ON delegations');
}
