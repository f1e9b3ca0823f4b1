import type { Knex } from 'knex';

/**
 * The end of an append in one statement, so that it can travel in the same message as the COMMIT (issue 15):
 * the tenant's head lock is then held for the statement and the commit's flush, not for round trips to Node.
 *
 * The app has already locked the head and computed every hash and MAC (the MAC key never reaches the
 * database, and the canonical text is RFC 8785 from Node); this function refuses anything that would not
 * extend the head it was given — another head, a broken link, a leaf that is not the canonical text's, a time
 * before the previous event's — by raising, which aborts the transaction, so the change and its events
 * commit together or not at all. Built-ins are schema-qualified (the multi-array `unnest` of FROM is
 * syntax, not a function lookup), so a `search_path` cannot shadow them.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION audit_append_events(
      p_client_key text, p_prev_seq bigint, p_prev_chain bytea,
      p_recorded_at timestamptz[], p_action text[], p_space_key text[], p_page_id text[], p_workflow_id text[],
      p_actor_ref text[], p_canonical text[], p_leaf_hash bytea[], p_chain_hash bytea[], p_mac bytea[]
    ) RETURNS bigint
    LANGUAGE plpgsql AS $$
    DECLARE
      n int := pg_catalog.cardinality(p_canonical);
      head record;
      prev bytea;
      last_at timestamptz;
    BEGIN
      IF n IS NULL OR n < 1 THEN
        RAISE EXCEPTION 'audit append: no events' USING ERRCODE = '22023';
      END IF;
      SELECT h.seq, h.chain_hash, h.updated_at INTO head FROM audit_heads h WHERE h.client_key = p_client_key FOR UPDATE;
      IF NOT FOUND OR head.seq <> p_prev_seq OR head.chain_hash IS DISTINCT FROM p_prev_chain THEN
        RAISE EXCEPTION 'audit append: the head of % is not at seq %', p_client_key, p_prev_seq USING ERRCODE = '55000';
      END IF;
      prev := COALESCE(p_prev_chain, pg_catalog.sha256(pg_catalog.convert_to('attest-audit-v1' || pg_catalog.chr(10) || p_client_key, 'UTF8')));
      last_at := CASE WHEN head.seq > 0 THEN head.updated_at END;
      FOR i IN 1..n LOOP
        IF p_leaf_hash[i] IS DISTINCT FROM pg_catalog.sha256('\\x00'::bytea || pg_catalog.convert_to(p_canonical[i], 'UTF8'))
           OR p_chain_hash[i] IS DISTINCT FROM pg_catalog.sha256('\\x01'::bytea || prev || p_leaf_hash[i]) THEN
          RAISE EXCEPTION 'audit append: event % does not extend the chain of %', p_prev_seq + i, p_client_key USING ERRCODE = '22023';
        END IF;
        IF last_at IS NOT NULL AND p_recorded_at[i] < last_at THEN
          RAISE EXCEPTION 'audit append: event % is earlier than the one before it', p_prev_seq + i USING ERRCODE = '22023';
        END IF;
        prev := p_chain_hash[i];
        last_at := p_recorded_at[i];
      END LOOP;
      INSERT INTO audit_events (client_key, seq, recorded_at, action, space_key, page_id, workflow_id, actor_ref, canonical, leaf_hash, chain_hash, mac)
        SELECT p_client_key, p_prev_seq + e.i, e.recorded_at, e.action, e.space_key, e.page_id, e.workflow_id, e.actor_ref, e.canonical, e.leaf_hash, e.chain_hash, e.mac
          FROM unnest(p_recorded_at, p_action, p_space_key, p_page_id, p_workflow_id, p_actor_ref, p_canonical, p_leaf_hash, p_chain_hash, p_mac)
               WITH ORDINALITY AS e(recorded_at, action, space_key, page_id, workflow_id, actor_ref, canonical, leaf_hash, chain_hash, mac, i);
      UPDATE audit_heads SET seq = p_prev_seq + n, chain_hash = p_chain_hash[n], updated_at = p_recorded_at[n]
       WHERE client_key = p_client_key;
      RETURN p_prev_seq + n;
    END
    $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS audit_append_events(text, bigint, bytea, timestamptz[], text[], text[], text[], text[], text[], text[], bytea[], bytea[], bytea[])');
}
