import type { Knex } from 'knex';

/**
 * Every committed change to what a macro render reads (the tenant and its shared secret, space settings,
 * workflows, decisions) is announced with `NOTIFY attest_tenant_change, '<client_key>'`, from a trigger: no
 * writer, present or future, can forget it, and PostgreSQL delivers it only on commit, in commit order, to
 * every instance listening (src/view-cache). Identical payloads within one transaction are sent once.
 */
const TENANT_CHANGE_CHANNEL = 'attest_tenant_change';
const TABLES = ['tenants', 'space_settings', 'workflows', 'decisions'] as const;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION attest_notify_tenant_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('${TENANT_CHANGE_CHANNEL}', OLD.client_key);
      ELSE
        PERFORM pg_notify('${TENANT_CHANGE_CHANNEL}', NEW.client_key);
        IF TG_OP = 'UPDATE' AND OLD.client_key IS DISTINCT FROM NEW.client_key THEN
          PERFORM pg_notify('${TENANT_CHANGE_CHANNEL}', OLD.client_key);
        END IF;
      END IF;
      RETURN NULL;
    END $$`);
  await knex.raw(`
    CREATE FUNCTION attest_notify_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('${TENANT_CHANGE_CHANNEL}', '');
      RETURN NULL;
    END $$`);
  for (const table of TABLES) {
    await knex.raw(`CREATE TRIGGER ${table}_notify_tenant_change AFTER INSERT OR UPDATE OR DELETE ON ${table}
      FOR EACH ROW EXECUTE FUNCTION attest_notify_tenant_change()`);
    // TRUNCATE fires no row trigger: announce it to everyone (an empty payload means "every tenant").
    await knex.raw(`CREATE TRIGGER ${table}_notify_truncate AFTER TRUNCATE ON ${table}
      FOR EACH STATEMENT EXECUTE FUNCTION attest_notify_truncate()`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of TABLES) {
    await knex.raw(`DROP TRIGGER IF EXISTS ${table}_notify_truncate ON ${table}`);
    await knex.raw(`DROP TRIGGER IF EXISTS ${table}_notify_tenant_change ON ${table}`);
  }
  await knex.raw('DROP FUNCTION IF EXISTS attest_notify_truncate()');
  await knex.raw('DROP FUNCTION IF EXISTS attest_notify_tenant_change()');
}
