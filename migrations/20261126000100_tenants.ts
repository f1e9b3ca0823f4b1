import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenants', (t) => {
    t.text('client_key').primary();
    t.text('addon_key').notNullable();
    t.text('base_url').notNullable();
    t.text('display_url');
    t.text('product_type');
    t.text('description');
    t.text('oauth_client_id');
    t.text('cloud_id');
    // AES-256-GCM: version byte ‖ 12-byte IV ‖ 16-byte tag ‖ ciphertext, bound to client_key as AAD.
    t.binary('shared_secret_enc').notNullable();
    t.text('state').notNullable().defaultTo('installed');
    // Every other field of the install payload that is not a secret.
    t.jsonb('install_payload').notNullable().defaultTo('{}');
    t.timestamp('installed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('uninstalled_at', { useTz: true });
  });
  await knex.raw(`ALTER TABLE tenants ADD CONSTRAINT tenants_state_check CHECK (state IN ('installed', 'uninstalled'))`);

  await knex.schema.createTable('addon_settings', (t) => {
    t.text('client_key').notNullable();
    t.text('key').notNullable();
    t.jsonb('val').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['client_key', 'key'], { constraintName: 'addon_settings_pkey' });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('addon_settings');
  await knex.schema.dropTable('tenants');
}
