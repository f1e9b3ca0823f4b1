import type { Knex } from 'knex';

/**
 * Calendar subscriptions (issue 17): one secret feed URL per space, and the revision of each event a feed
 * has shown, so that a moved date keeps its UID and raises its SEQUENCE (RFC 5545 3.8.7.4).
 *
 * `calendar_feeds` holds no secret: the URL's secret is kept as its SHA-256 (it is 256 random bits, so a
 * plain hash is enough; nothing to slow down). `feed_id` is the public half of the URL, the key a request
 * without a JWT finds its tenant by. A revoked feed is deleted; the audit chain records who did what.
 * No accountId is stored here (the chain has the ref), so erasing a closed account has nothing to do here.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('calendar_feeds', (t) => {
    t.text('client_key').notNullable();
    t.text('space_key').notNullable();
    t.text('feed_id').notNullable();
    t.binary('secret_sha256').notNullable();
    t.boolean('show_titles').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['client_key', 'space_key'], { constraintName: 'calendar_feeds_pkey' });
    t.unique(['feed_id'], { indexName: 'calendar_feeds_feed_id_key' });
  });
  await knex.raw(`ALTER TABLE calendar_feeds ADD CONSTRAINT calendar_feeds_secret_check CHECK (octet_length(secret_sha256) = 32)`);

  await knex.schema.createTable('calendar_event_revisions', (t) => {
    t.text('client_key').notNullable();
    t.uuid('workflow_id').notNullable();
    t.text('kind').notNullable();
    t.date('date').notNullable();
    t.integer('sequence').notNullable().defaultTo(0);
    t.timestamp('revised_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['client_key', 'workflow_id', 'kind'], { constraintName: 'calendar_event_revisions_pkey' });
  });
  await knex.raw(`ALTER TABLE calendar_event_revisions ADD CONSTRAINT calendar_event_revisions_kind_check CHECK (kind IN ('due', 'review'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('calendar_event_revisions');
  await knex.schema.dropTable('calendar_feeds');
}
