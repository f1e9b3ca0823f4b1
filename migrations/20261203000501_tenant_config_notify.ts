import type { Knex } from 'knex';

/**
 * A second channel for the changes that few writes make: the installation (its shared secret, its state) and
 * space settings. Every committed change to `tenants` or `space_settings` is also announced with
 * `NOTIFY attest_tenant_config_change, '<client_key>'` (migration 20261202000700 keeps announcing every change
 * to what a render reads on `attest_tenant_change`). The caches of the tenant's secret and its space policies
 * listen to this one only, so that a decision (a write to `workflows` and `decisions`) does not empty them:
 * with one channel for both, every decision of a busy tenant threw its secret and policies away.
 */
const CHANNEL = 'attest_tenant_config_change';
const TABLES = ['tenants', 'space_settings'] as const;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION attest_notify_tenant_config_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('${CHANNEL}', OLD.client_key);
      ELSE
        PERFORM pg_notify('${CHANNEL}', NEW.client_key);
        IF TG_OP = 'UPDATE' AND OLD.client_key IS DISTINCT FROM NEW.client_key THEN
          PERFORM pg_notify('${CHANNEL}', OLD.client_key);
        END IF;
      END IF;
      RETURN NULL;
    END $$`);
  await knex.raw(`
    CREATE FUNCTION attest_notify_config_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('${CHANNEL}', '');
      RETURN NULL;
    END $$`);
  for (const table of TABLES) {
    await knex.raw(`CREATE TRIGGER ${table}_notify_tenant_config_change AFTER INSERT OR UPDATE OR DELETE ON ${table}
      FOR EACH ROW EXECUTE FUNCTION attest_notify_tenant_config_change()`);
    await knex.raw(`CREATE TRIGGER ${table}_notify_config_truncate AFTER TRUNCATE ON ${table}
      FOR EACH STATEMENT EXECUTE FUNCTION attest_notify_config_truncate()`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of TABLES) {
    await knex.raw(`DROP TRIGGER IF EXISTS ${table}_notify_config_truncate ON ${table}`);
    await knex.raw(`DROP TRIGGER IF EXISTS ${table}_notify_tenant_config_change ON ${table}`);
  }
  await knex.raw('DROP FUNCTION IF EXISTS attest_notify_config_truncate()');
  await knex.raw('DROP FUNCTION IF EXISTS attest_notify_tenant_config_change()');
}
