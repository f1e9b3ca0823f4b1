import type { Knex } from 'knex';

/**
 * The Approvals macro works on blog posts as on pages: a workflow remembers which kind of content it is
 * on (v2 REST reads `/pages/{id}` or `/blogposts/{id}`, comments name `pageId` or `blogPostId`).
 * `app_unreadable_since`: when Attest last found that Confluence hides the page from the app itself
 * (restricted to people the app is not among); null once it can read it again. The dashboard says so.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('workflows', (t) => {
    t.text('content_type').notNullable().defaultTo('page');
    t.timestamp('app_unreadable_since', { useTz: true }).nullable();
  });
  await knex.raw(`ALTER TABLE workflows ADD CONSTRAINT workflows_content_type_check CHECK (content_type IN ('page', 'blogpost'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE workflows DROP CONSTRAINT IF EXISTS workflows_content_type_check');
  await knex.schema.alterTable('workflows', (t) => {
    t.dropColumn('app_unreadable_since');
    t.dropColumn('content_type');
  });
}
