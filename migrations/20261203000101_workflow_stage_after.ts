import type { Knex } from 'knex';

/**
 * Ordered stages (issue 16): the Approvals macro's optional `after` parameter names the `title` of the macro on
 * the same page whose approval this one waits for ("Legal sign-off"). Null: the workflow waits for nobody.
 * The same text rules as `title`, since it names one.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('workflows', (t) => {
    t.text('after_title').nullable();
  });
  await knex.raw(`ALTER TABLE workflows ADD CONSTRAINT workflows_after_title_check
    CHECK (after_title IS NULL OR (char_length(after_title) BETWEEN 1 AND 100 AND after_title !~ '[[:cntrl:]]'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE workflows DROP CONSTRAINT workflows_after_title_check');
  await knex.schema.alterTable('workflows', (t) => {
    t.dropColumn('after_title');
  });
}
