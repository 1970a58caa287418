-- The peer: the same ingestion of sales in PL/pgSQL, on the same tables
-- with the same idempotency rule (INSERT ... ON CONFLICT DO NOTHING on the
-- message key, a redelivery returns the stored answer), the same
-- permission lookup, balance update, entry, outbox row + NOTIFY and stored
-- answer.  Its parser handles what the benchmark sends (done <qty> x
-- <price> with 50000, 50.000, 50,000, 50rb and 50k), with regular
-- expressions, as a PL/pgSQL author would write it.
--
-- How a reply is signalled is chosen when the file is loaded (psql
-- variable peer_notify): 'each' (default) queues it with the core's
-- mekatek.outbox_enqueue, a NOTIFY per reply; 'burst' does what
-- chat_ingest does (ingest.c): NOTIFY only when no other ledger reply
-- waits unclaimed, holding the core's outbox fence (MK_OUTBOX_FENCE).
CREATE SCHEMA peer;
\if :{?peer_notify}
\else
\set peer_notify each
\endif
SELECT :'peer_notify' = 'burst' AS burst \gset
\if :burst
CREATE FUNCTION peer.queue_reply(payload jsonb) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    waiting boolean;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1296781122, hashtext('ledger'));   -- MK_OUTBOX_FENCE
    waiting := EXISTS (SELECT FROM mekatek.outbox p
                        WHERE p.channel = 'ledger' AND p.delivered_at IS NULL AND p.claimed_at IS NULL);
    INSERT INTO mekatek.outbox (channel, payload) VALUES ('ledger', payload);
    IF NOT waiting THEN
        PERFORM pg_notify('mekatek_outbox', 'ledger');
    END IF;
END
$$;
\else
-- No SET clause, so the planner inlines it: the same call as a direct
-- mekatek.outbox_enqueue in chat_ingest's body.
CREATE FUNCTION peer.queue_reply(payload jsonb) RETURNS bigint
LANGUAGE sql
AS $$ SELECT mekatek.outbox_enqueue('ledger', payload) $$;
\endif
CREATE FUNCTION peer.chat_ingest(p_source text, p_message_id text, p_group_id text, p_sender text,
                                 p_sent_at timestamptz, p_body text)
RETURNS mekatek.chat_reply
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r mekatek.chat_reply;
    m text[];
    qty int;
    price bigint;
    v_phone text := regexp_replace(split_part(p_sender, '@', 1), '[^0-9]', '', 'g');
    ctx record;
BEGIN
    INSERT INTO mekatek.ledger_message (source, message_id, revoked, group_id, sender, sent_at, body)
    VALUES (p_source, p_message_id, false, p_group_id, v_phone, p_sent_at, p_body)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT 'duplicate', reply, unpaid INTO r FROM mekatek.ledger_message
         WHERE source = p_source AND message_id = p_message_id AND revoked = false;
        RETURN r;
    END IF;
    m := regexp_match(p_body, '^\s*done\s+([0-9]{1,6})\s*[xX*]\s*(?:Rp\.?\s*)?([0-9]{1,3}(?:([.,])[0-9]{3}(?:\3[0-9]{3})*)?|[0-9]+)\s*(rb|k)?(?:\s+(.*))?$', 'i');
    IF m IS NULL THEN
        r := ('ignored', NULL, NULL);
    ELSE
        qty := m[1]::int;
        price := replace(replace(m[2], '.', ''), ',', '')::bigint * CASE WHEN m[4] IS NULL THEN 1 ELSE 1000 END;
        SELECT u.user_id, p.own_only, g.name, g.buyer_phone INTO ctx
          FROM (SELECT) one
          LEFT JOIN mekatek.ledger_user u ON u.phone = v_phone
          LEFT JOIN LATERAL (SELECT bool_and(rp.own_group_only) AS own_only
                               FROM mekatek.ledger_user_role ur
                               JOIN mekatek.ledger_role_permission rp ON rp.role_name = ur.role_name
                              WHERE ur.user_id = u.user_id AND rp.command = 'done') p ON true
          LEFT JOIN mekatek.ledger_group g ON g.group_id = p_group_id AND g.deleted_at IS NULL;
        IF ctx.user_id IS NULL OR ctx.own_only IS NULL OR ctx.name IS NULL THEN
            r := ('refused', 'You may not use done.', NULL);
        ELSE
            UPDATE mekatek.ledger_group SET unpaid = unpaid + qty * price WHERE group_id = p_group_id
            RETURNING unpaid INTO r.unpaid;
            INSERT INTO mekatek.ledger_entry (group_id, kind, amount, paid_side, qty, price, note, sender,
                                              source, message_id, root_message_id, booked_at)
            VALUES (p_group_id, 'sale', qty * price, false, qty, price, nullif(m[5], ''), v_phone,
                    p_source, p_message_id, p_message_id, p_sent_at);
            r.outcome := 'recorded';
            r.reply := 'Recorded: ' || qty || ' x ' || mekatek.ledger_format(price) || ' = '
                       || mekatek.ledger_format(qty * price) || '. Unpaid: ' || mekatek.ledger_format(r.unpaid);
        END IF;
    END IF;
    IF r.reply IS NOT NULL THEN
        PERFORM peer.queue_reply(jsonb_strip_nulls(jsonb_build_object(
            'group_id', p_group_id, 'reply', r.reply, 'source', p_source, 'message_id', p_message_id)));
    END IF;
    UPDATE mekatek.ledger_message SET outcome = r.outcome, reply = r.reply, unpaid = r.unpaid
     WHERE source = p_source AND message_id = p_message_id AND revoked = false;
    RETURN r;
END
$$;
