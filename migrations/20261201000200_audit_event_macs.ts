import type { Knex } from 'knex';

/**
 * Authenticated appends (src/audit/event-mac.ts): each event's HMAC, made by the app with a key the
 * database never sees. Null only for rows written before this migration; those are vouched for once per
 * tenant by an adoption row (its own MAC over the last such row's seq and chain hash).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.binary('mac');
  });
  await knex.raw(`ALTER TABLE audit_events ADD CONSTRAINT audit_events_mac_check CHECK (mac IS NULL OR octet_length(mac) = 32)`);
  // Finds the rows to adopt at start-up without scanning the MAC'd ones.
  await knex.raw(`CREATE INDEX audit_events_without_mac_idx ON audit_events (client_key, seq) WHERE mac IS NULL`);
  await knex.schema.createTable('audit_mac_adoptions', (t) => {
    t.text('client_key').primary({ constraintName: 'audit_mac_adoptions_pkey' });
    t.bigInteger('through_seq').notNullable();
    t.binary('chain_hash').notNullable();
    t.binary('mac').notNullable();
    t.timestamp('adopted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_mac_adoptions');
  await knex.raw('DROP INDEX IF EXISTS audit_events_without_mac_idx');
  await knex.raw('ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_mac_check');
  await knex.schema.alterTable('audit_events', (t) => {
    t.dropColumn('mac');
  });
}
