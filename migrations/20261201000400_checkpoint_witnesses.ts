import type { Knex } from 'knex';

/**
 * What witnessed each checkpoint: `{confluence: true, tsa: {url, token, genTime, serialNumber, digest} | null}`.
 * Null for checkpoints signed before witnesses existed. The receipts travel with the checkpoint into packs.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_checkpoints', (t) => {
    t.jsonb('witness');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_checkpoints', (t) => {
    t.dropColumn('witness');
  });
}
