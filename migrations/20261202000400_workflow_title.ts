import type { Knex } from 'knex';

/**
 * Which Approvals macro a workflow is, for people: the macro's optional `title` parameter ("Security sign-off"),
 * and its place among the page's Approvals macros when the page was last read ("Approvals 2 of 2"), so two
 * macros on one page are told apart in the space dashboard, My approvals and reminders. Both are display
 * data: the audit chain names a workflow by its id.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('workflows', (t) => {
    t.text('title').nullable();
    t.integer('page_position').nullable();
    t.integer('page_macro_count').nullable();
  });
  await knex.raw(`ALTER TABLE workflows ADD CONSTRAINT workflows_title_check
    CHECK (title IS NULL OR (char_length(title) BETWEEN 1 AND 100 AND title !~ '[[:cntrl:]]'))`);
  await knex.raw(`ALTER TABLE workflows ADD CONSTRAINT workflows_page_position_check
    CHECK ((page_position IS NULL AND page_macro_count IS NULL) OR (page_position BETWEEN 1 AND page_macro_count))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE workflows DROP CONSTRAINT workflows_page_position_check');
  await knex.raw('ALTER TABLE workflows DROP CONSTRAINT workflows_title_check');
  await knex.schema.alterTable('workflows', (t) => {
    t.dropColumn('page_macro_count');
    t.dropColumn('page_position');
    t.dropColumn('title');
  });
}
