-- Mekatek install script, core (first): schema, roles, conventions.
-- The install script is src/core/core.sql, each module's src/<module>/<module>.sql
-- in the order of the Makefile's MODULES, then src/core/privileges.sql;
-- each module owns one file.
\echo Use "CREATE EXTENSION mekatek CASCADE" to load this file. \quit

COMMENT ON SCHEMA mekatek IS 'Mekatek: shop, pharmacy and device logic enforced inside PostgreSQL';

-- Group roles are cluster-wide: create them when absent, never drop them
-- (other databases of the cluster may use them).  Logins are made members:
--   CREATE ROLE ana LOGIN PASSWORD '...' IN ROLE mekatek_cashier;
DO $roles$
DECLARE
    r text;
BEGIN
    -- mekatek_outbox delivers the outbox; mekatek_bot is the ledger's chat bot.
    FOREACH r IN ARRAY ARRAY['mekatek_admin', 'mekatek_cashier', 'mekatek_device', 'mekatek_analyst',
                             'mekatek_outbox', 'mekatek_bot'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$roles$;

-- The admin may do what a cashier and an analyst may do, and more.
GRANT mekatek_cashier, mekatek_analyst TO mekatek_admin;

REVOKE ALL ON SCHEMA mekatek FROM PUBLIC;
GRANT USAGE ON SCHEMA mekatek TO mekatek_admin, mekatek_cashier, mekatek_device, mekatek_analyst;

-- The one admin rule (src/core/roles.c): the acting role (the session's,
-- as SET ROLE left it, never a SECURITY DEFINER function's owner) is a
-- superuser or has mekatek_admin's privileges.  C code asks the same.
CREATE FUNCTION mekatek.is_admin() RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_is_admin';
COMMENT ON FUNCTION mekatek.is_admin() IS 'True when the acting role (the session''s, not a SECURITY DEFINER owner''s) has mekatek_admin''s privileges or is a superuser';

-- DROP EXTENSION mekatek drops its tables with their rows, CASCADE or not
-- (they are the extension's members): refused while they hold rows,
-- unless mekatek.drop_with_data is on (src/core/drop_guard.c).
CREATE FUNCTION mekatek.drop_guard() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'mk_drop_guard' LANGUAGE C;
COMMENT ON FUNCTION mekatek.drop_guard() IS
'Event trigger: refuses DROP EXTENSION mekatek and DROP SCHEMA mekatek while the extension''s tables hold rows, unless mekatek.drop_with_data is on';
CREATE EVENT TRIGGER mekatek_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
    EXECUTE FUNCTION mekatek.drop_guard();
COMMENT ON EVENT TRIGGER mekatek_drop_guard IS
'Refuses to drop the extension mekatek (and its tables) while they hold rows; SET mekatek.drop_with_data = on forces it';

-- ---------------------------------------------------------------- outbox
-- Messages the database wants sent (chat replies, device notifications),
-- durable: written in the transaction that decided them, so a reply exists
-- exactly when its effect committed.  A deliverer LISTENs on
-- mekatek_outbox (the payload names the channel), claims rows with
-- outbox_claim, sends them and marks them with outbox_delivered; a claim
-- not marked within its lease (a deliverer that died) is claimed again.
GRANT USAGE ON SCHEMA mekatek TO mekatek_outbox;

CREATE TABLE mekatek.outbox (
    outbox_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel      text NOT NULL CHECK (channel ~ '^[a-z][a-z0-9_]{0,31}$'),
    payload      jsonb NOT NULL,
    created      timestamptz NOT NULL DEFAULT now(),
    claimed_at   timestamptz,
    delivered_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pending ON mekatek.outbox (channel, outbox_id) WHERE delivered_at IS NULL;
COMMENT ON TABLE mekatek.outbox IS 'Durable outgoing messages per channel (ledger replies, device notifications); delivered_at set by the deliverer';
SELECT pg_catalog.pg_extension_config_dump('mekatek.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.outbox_outbox_id_seq', '');

CREATE FUNCTION mekatek.outbox_enqueue(channel text, payload jsonb) RETURNS bigint
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    -- NOTIFY is sent at commit, so a listener never wakes for a row it cannot see.
    WITH ins AS (
        INSERT INTO mekatek.outbox (channel, payload) VALUES (channel, payload) RETURNING outbox_id
    )
    SELECT ins.outbox_id FROM ins, LATERAL pg_catalog.pg_notify('mekatek_outbox', channel) AS n
$$;
COMMENT ON FUNCTION mekatek.outbox_enqueue(text, jsonb) IS
'Queue a message on a channel and NOTIFY mekatek_outbox (payload: the channel) at commit; returns its outbox_id';

CREATE FUNCTION mekatek.outbox_claim(channel text, max_rows integer DEFAULT 100,
                                     lease interval DEFAULT '1 minute')
RETURNS SETOF mekatek.outbox
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    -- The channel's fence first (MK_OUTBOX_FENCE, src/core/mekatek.h): a
    -- producer that leaves out its NOTIFY because an earlier message waits
    -- unclaimed holds it shared until it commits, so this claim (a new
    -- snapshot after the lock) also takes that producer's message.
    SELECT pg_catalog.pg_advisory_xact_lock(1296781122, pg_catalog.hashtext(outbox_claim.channel));
    -- SKIP LOCKED: several deliverers share a channel without waiting on
    -- each other or taking the same row.
    WITH c AS (
        UPDATE mekatek.outbox o
           SET claimed_at = now(), attempts = o.attempts + 1
         WHERE o.outbox_id IN (
                 SELECT p.outbox_id FROM mekatek.outbox p
                  WHERE p.channel = outbox_claim.channel AND p.delivered_at IS NULL
                    AND (p.claimed_at IS NULL OR p.claimed_at < now() - lease)
                  ORDER BY p.outbox_id
                  LIMIT max_rows
                    FOR UPDATE SKIP LOCKED)
        RETURNING o.*
    )
    -- in the order they were queued, so a chat reads its replies in order
    SELECT c.* FROM c ORDER BY c.outbox_id
$$;
COMMENT ON FUNCTION mekatek.outbox_claim(text, integer, interval) IS
'Claim up to max_rows undelivered messages of a channel, oldest first (FOR UPDATE SKIP LOCKED); claimed again after lease unless marked delivered';

CREATE FUNCTION mekatek.outbox_delivered(ids bigint[]) RETURNS integer
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH d AS (
        UPDATE mekatek.outbox SET delivered_at = now()
         WHERE outbox_id = ANY (ids) AND delivered_at IS NULL
        RETURNING 1
    )
    SELECT count(*)::integer FROM d
$$;
COMMENT ON FUNCTION mekatek.outbox_delivered(bigint[]) IS
'Mark claimed messages as sent; returns how many were newly marked (a repeated mark changes nothing)';

GRANT EXECUTE ON FUNCTION mekatek.outbox_claim(text, integer, interval),
    mekatek.outbox_delivered(bigint[]) TO mekatek_outbox, mekatek_admin;
GRANT SELECT ON mekatek.outbox TO mekatek_admin;

-- Delivered messages are kept for mekatek.outbox_keep (default 30d), then
-- deleted by outbox_prune (schedule it daily with pg_cron); an undelivered
-- message is never deleted.  Admin only: the deliverer (mekatek_outbox)
-- claims and marks, it has no business deciding what history to drop.
CREATE FUNCTION mekatek.outbox_prune(keep interval DEFAULT NULL) RETURNS bigint
AS 'MODULE_PATHNAME', 'mk_outbox_prune' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.outbox_prune(interval) IS
'Delete delivered outbox messages whose delivered_at is older than keep (NULL: the setting mekatek.outbox_keep, default 30 days); never an undelivered one; admin only; returns how many were deleted';
GRANT EXECUTE ON FUNCTION mekatek.outbox_prune(interval) TO mekatek_admin;
