import type { Knex } from 'knex';

/**
 * The latest full check and the latest incremental check of a tenant's chain are kept apart (one row each),
 * with the first seq each re-hashed, so that admin screens say exactly what was checked and when.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE audit_verification ADD COLUMN scope text NOT NULL DEFAULT 'incremental'`);
  await knex.raw(`UPDATE audit_verification SET scope = 'full' WHERE mode = 'full'`);
  await knex.raw(`ALTER TABLE audit_verification ALTER COLUMN scope DROP DEFAULT`);
  await knex.raw(`ALTER TABLE audit_verification DROP CONSTRAINT audit_verification_pkey`);
  await knex.raw(`ALTER TABLE audit_verification ADD CONSTRAINT audit_verification_pkey PRIMARY KEY (client_key, scope)`);
  await knex.raw(`ALTER TABLE audit_verification ADD CONSTRAINT audit_verification_scope_check CHECK (scope IN ('full', 'incremental'))`);
  await knex.raw(`ALTER TABLE audit_verification ADD COLUMN verified_from_seq bigint`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE audit_verification DROP COLUMN verified_from_seq`);
  await knex.raw(`ALTER TABLE audit_verification DROP CONSTRAINT audit_verification_scope_check`);
  // One row per tenant again: the most recent check.
  await knex.raw(`DELETE FROM audit_verification v USING audit_verification w
    WHERE v.client_key = w.client_key AND v.scope <> w.scope AND (v.checked_at, v.scope) < (w.checked_at, w.scope)`);
  await knex.raw(`ALTER TABLE audit_verification DROP CONSTRAINT audit_verification_pkey`);
  await knex.raw(`ALTER TABLE audit_verification ADD CONSTRAINT audit_verification_pkey PRIMARY KEY (client_key)`);
  await knex.raw(`ALTER TABLE audit_verification DROP COLUMN scope`);
}
