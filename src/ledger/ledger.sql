-- Mekatek install script, module ledger: the chat-recorded sales ledger.
-- A seller types "done 2 x 50000" in a customer's WhatsApp group; a bot
-- hands every message to mekatek.chat_ingest and sends back the reply the
-- database wrote into the outbox.  Every rule (parsing, permissions, the
-- books) is in C (src/ledger/); the bot's role can call chat_ingest and
-- nothing else.

-- mekatek_bot is created with the other roles (src/core/core.sql).
GRANT USAGE ON SCHEMA mekatek TO mekatek_bot;

-- ---------------------------------------------------------------- settings

CREATE FUNCTION mekatek.ledger_timezone() RETURNS text
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_ledger_timezone';
COMMENT ON FUNCTION mekatek.ledger_timezone() IS
'The time zone of the ledger''s days and periods (setting mekatek.ledger_timezone, default Asia/Jakarta), never the session''s';

-- ---------------------------------------------------------------- who may do what

-- The command catalogue is the extension's (the parser knows these words);
-- roles, users and their grants are the owner's data.
CREATE TABLE mekatek.ledger_command (
    command     text PRIMARY KEY,
    description text NOT NULL
);
COMMENT ON TABLE mekatek.ledger_command IS 'The chat commands the ledger understands (the paper''s command list); permissions name them';
INSERT INTO mekatek.ledger_command VALUES
    ('autocharge', 'turn automatic payment reminders for this group on or off'),
    ('broadcast', 'send a text to every registered group'),
    ('cancel', 'reverse your last sale in this group (or the quoted message)'),
    ('commands', 'list the commands you may run'),
    ('done', 'record a sale: done <qty> x <price> [note]'),
    ('groupadd', 'register this group: groupadd <buyer phone> [name]'),
    ('groupdelete', 'unregister this group (its books are kept)'),
    ('groupedit', 'change the buyer''s phone number of this group'),
    ('grouplist', 'list the registered groups'),
    ('info', 'show your name, phone number and roles'),
    ('math', 'calculate: math 2*50000+3000'),
    ('payment', 'record a payment: payment <amount> [note]'),
    ('permissionlist', 'list every permission (command)'),
    ('ping', 'check that the ledger answers'),
    ('report', 'settlements of a period: report [from [to]]'),
    ('roleadd', 'create a role: roleadd <role> [description]'),
    ('roledelete', 'delete a role no user has'),
    ('roleedit', 'change a role''s permissions: roleedit <role> +cmd -cmd +total:own'),
    ('rolelist', 'list roles with their permissions'),
    ('settle', 'close this group''s open transactions and carry the unpaid balance forward'),
    ('settleall', 'settle every registered group'),
    ('tagall', 'mention every member of this group'),
    ('total', 'the unpaid total of this group'),
    ('totalall', 'the unpaid total of every group, with ageing'),
    ('useradd', 'add a user: useradd <phone> <role> [name]'),
    ('useredit', 'change a user''s phone number and name: useredit <phone> <new phone> [name]'),
    ('userlist', 'list the users'),
    ('userroleedit', 'give a user another role: userroleedit <phone> <role>');

CREATE TABLE mekatek.ledger_role (
    role_name   text PRIMARY KEY CHECK (role_name ~ '^[a-z0-9_]{1,32}$'),
    description text NOT NULL DEFAULT '',
    created     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mekatek.ledger_role IS 'Ledger roles (the paper''s roles table): a named set of permitted commands';

CREATE TABLE mekatek.ledger_role_permission (
    role_name      text NOT NULL REFERENCES mekatek.ledger_role ON DELETE CASCADE,
    command        text NOT NULL REFERENCES mekatek.ledger_command,
    -- A buyer may ask "total" in its own group only: the grant names the
    -- group whose buyer phone is the sender's.
    own_group_only boolean NOT NULL DEFAULT false,
    PRIMARY KEY (role_name, command)
);
COMMENT ON TABLE mekatek.ledger_role_permission IS 'Which commands a role may run (the paper''s roles_permissions); own_group_only limits it to groups whose buyer is the sender';

CREATE TABLE mekatek.ledger_user (
    user_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone    text NOT NULL UNIQUE CHECK (phone ~ '^[0-9]{8,15}$'),
    name     text NOT NULL DEFAULT '',
    created  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mekatek.ledger_user IS 'People the ledger knows, by WhatsApp phone number (country code, digits only); unknown senders may do nothing';

CREATE TABLE mekatek.ledger_user_role (
    user_id   bigint NOT NULL REFERENCES mekatek.ledger_user ON DELETE CASCADE,
    role_name text NOT NULL REFERENCES mekatek.ledger_role,
    PRIMARY KEY (user_id, role_name)
);
COMMENT ON TABLE mekatek.ledger_user_role IS 'The roles of a user (the paper''s user_roles)';

-- ---------------------------------------------------------------- groups and books

CREATE TABLE mekatek.ledger_group (
    group_id         text PRIMARY KEY,
    name             text NOT NULL,
    buyer_phone      text NOT NULL CHECK (buyer_phone ~ '^[0-9]{8,15}$'),
    autocharge       boolean NOT NULL DEFAULT false,
    -- The running balance, kept by chat_ingest in the same transaction as
    -- the entries: the sum of the group's entries, always.  Writing it is
    -- also what serialises a group's postings against its settlement.
    unpaid           bigint NOT NULL DEFAULT 0,
    -- Entries up to this id are closed by a settlement.
    settled_through  bigint NOT NULL DEFAULT 0,
    created          timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
) WITH (fillfactor = 70);
COMMENT ON TABLE mekatek.ledger_group IS 'A customer''s WhatsApp group: its buyer, running unpaid balance and settlement mark';

CREATE TYPE mekatek.ledger_entry_kind AS ENUM ('sale', 'payment', 'reversal', 'adjustment', 'carry_over');
COMMENT ON TYPE mekatek.ledger_entry_kind IS
'sale and payment from done/payment; reversal from cancel, edit and revoke; adjustment the new entries of an edited message; carry_over the balance a settlement closes and reopens';

-- Append-only: a correction is a new entry (a reversal), never an UPDATE.
CREATE TABLE mekatek.ledger_entry (
    entry_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id         text NOT NULL REFERENCES mekatek.ledger_group,
    kind             mekatek.ledger_entry_kind NOT NULL,
    -- Effect on the unpaid balance: sales positive, payments negative.
    amount           bigint NOT NULL,
    -- Payments and their reversals are on the paid side of a settlement.
    paid_side        boolean NOT NULL,
    qty              integer,
    price            bigint,
    note             text,
    -- The entry this one reverses: always an earlier one, written by
    -- chat_ingest from a row it has just read.  Not a foreign key: a table
    -- referencing itself makes pg_dump warn about a dependency loop on
    -- every dump, and the books are append-only, so the row cannot vanish.
    reverses         bigint UNIQUE CHECK (reverses < entry_id),
    sender           text NOT NULL,
    source           text NOT NULL,
    message_id       text NOT NULL,
    -- The first message of an edit chain: edits and revokes reverse its entries.
    root_message_id  text NOT NULL,
    booked_at        timestamptz NOT NULL
);
CREATE INDEX ON mekatek.ledger_entry (group_id, entry_id);
CREATE INDEX ON mekatek.ledger_entry (source, root_message_id);
COMMENT ON TABLE mekatek.ledger_entry IS 'The books: append-only entries per group; sum(amount) per group = ledger_group.unpaid';

CREATE TABLE mekatek.ledger_settlement (
    settlement_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id       text NOT NULL REFERENCES mekatek.ledger_group,
    first_entry_id bigint NOT NULL,
    last_entry_id  bigint NOT NULL,
    settled_at     timestamptz NOT NULL,
    settled_by     text NOT NULL,
    carried_in     bigint NOT NULL,
    transactions   bigint NOT NULL,
    paid           bigint NOT NULL,
    unpaid         bigint NOT NULL CHECK (unpaid = carried_in + transactions - paid),
    source         text NOT NULL,
    message_id     text NOT NULL
);
CREATE INDEX ON mekatek.ledger_settlement (settled_at);
CREATE INDEX ON mekatek.ledger_settlement (group_id, settlement_id);
COMMENT ON TABLE mekatek.ledger_settlement IS 'Immutable settlements: each closes a group''s entries first_entry_id..last_entry_id and carries unpaid forward';

CREATE FUNCTION mekatek.ledger_append_only() RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'mk_ledger_append_only';
COMMENT ON FUNCTION mekatek.ledger_append_only() IS 'BEFORE UPDATE/DELETE/TRUNCATE trigger: the books are append-only (ERROR 55000; post a reversal instead)';
-- One statement-level trigger per table refuses every UPDATE, DELETE and
-- TRUNCATE, even one that would touch no row: the books never change.
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON mekatek.ledger_entry FOR EACH STATEMENT EXECUTE FUNCTION mekatek.ledger_append_only();
CREATE TRIGGER ledger_settlement_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON mekatek.ledger_settlement FOR EACH STATEMENT EXECUTE FUNCTION mekatek.ledger_append_only();

-- ---------------------------------------------------------------- messages

-- Every message handed to chat_ingest, once: the key makes a redelivery
-- return the first answer.  A revoke is its own event for the same
-- message, hence revoked in the key.
CREATE TABLE mekatek.ledger_message (
    source      text NOT NULL,
    message_id  text NOT NULL,
    revoked     boolean NOT NULL,
    group_id    text NOT NULL,
    sender      text NOT NULL,
    sent_at     timestamptz NOT NULL,
    body        text NOT NULL,
    edited_of   text,
    quoted_id   text,
    received_at timestamptz NOT NULL DEFAULT now(),
    outcome     text CHECK (outcome IN ('recorded', 'answered', 'refused', 'rejected', 'ignored')),
    reply       text,
    unpaid      bigint,
    PRIMARY KEY (source, message_id, revoked)
) WITH (fillfactor = 80);
COMMENT ON TABLE mekatek.ledger_message IS 'Each message chat_ingest received, with the outcome and reply it gave (a redelivery returns these)';

CREATE TABLE mekatek.ledger_reject (
    reject_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text NOT NULL,
    message_id  text NOT NULL,
    group_id    text NOT NULL,
    sender      text NOT NULL,
    body        text NOT NULL,
    reason      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mekatek.ledger_reject IS 'Messages that looked like a command but did not parse, with the reason the sender was told';

CREATE TABLE mekatek.ledger_audit (
    audit_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    command    text NOT NULL,
    source     text,
    message_id text,
    detail     jsonb NOT NULL
);
COMMENT ON TABLE mekatek.ledger_audit IS 'Every change to users, roles, permissions and groups, with who made it and from which message';

-- ---------------------------------------------------------------- functions

CREATE TYPE mekatek.chat_reply AS (outcome text, reply text, unpaid bigint);
COMMENT ON TYPE mekatek.chat_reply IS 'chat_ingest''s answer: outcome (recorded, answered, refused, rejected, ignored, duplicate), the reply text (NULL: say nothing) and the group''s unpaid balance';

-- No SET clause: chat_ingest resolves no name through search_path.  A plain
-- sale or payment runs no statement of ours (src/ledger/direct.c, by OID);
-- every other statement is parsed, planned and run under MK_SEARCH_PATH by
-- the core SPI helpers (ingest.c's lk_run), and PostgreSQL's foreign-key
-- query qualifies its names and operators.  A SET clause would save and
-- restore the GUCs around every message (test/pgtap/ledger_search_path.sql
-- replays a hijacked = against it).  ledger_setup pins the helpers' path.
CREATE FUNCTION mekatek.chat_ingest(source text, message_id text, group_id text, sender text,
                                    sent_at timestamptz, body text, edited_of text DEFAULT NULL,
                                    revoked boolean DEFAULT false, quoted_id text DEFAULT NULL)
RETURNS mekatek.chat_reply
LANGUAGE c VOLATILE SECURITY DEFINER
AS 'MODULE_PATHNAME', 'mk_chat_ingest';
COMMENT ON FUNCTION mekatek.chat_ingest(text, text, text, text, timestamptz, text, text, boolean, text) IS
'Ingest one chat message (idempotent on source, message_id): parse, check the sender''s permission, post to the books, queue the reply in mekatek.outbox (channel ledger)';

CREATE FUNCTION mekatek.chat_parse(body text,
    OUT command text, OUT qty integer, OUT amount bigint, OUT note text, OUT args text[], OUT error text)
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_chat_parse';
COMMENT ON FUNCTION mekatek.chat_parse(text) IS
'Parse a chat message alone: command NULL for chatter, error set when a command does not parse (the reason the sender would get)';

CREATE FUNCTION mekatek.ledger_amount(amount text) RETURNS bigint
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_ledger_amount';
COMMENT ON FUNCTION mekatek.ledger_amount(text) IS
'Whole rupiah from an amount as sellers write it (50.000, Rp 50.000, 50rb, 1,5jt); ERROR 22P02 naming the reason for ambiguous forms';

CREATE FUNCTION mekatek.ledger_format(amount bigint) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_ledger_format';
COMMENT ON FUNCTION mekatek.ledger_format(bigint) IS 'The canonical form of an amount (Rp1.500.000), which ledger_amount parses back to the same value';

CREATE FUNCTION mekatek.ledger_phone(phone text) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mk_ledger_phone';
COMMENT ON FUNCTION mekatek.ledger_phone(text) IS 'A phone number as the ledger keys it (6281234567890) from +62 812-3456-7890, 0812..., or a WhatsApp id 62812...@c.us; ERROR 22P02 otherwise';

CREATE FUNCTION mekatek.ledger_setup(owner_phone text, owner_name text DEFAULT 'owner')
RETURNS void
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mekatek, pg_temp
AS 'MODULE_PATHNAME', 'mk_ledger_setup';
COMMENT ON FUNCTION mekatek.ledger_setup(text, text) IS
'Create the default roles (owner: every command; seller: the daily commands; buyer: total in its own group) when absent, and the owner user; audited';

CREATE FUNCTION mekatek.ledger_receivables(as_of timestamptz DEFAULT now(),
    OUT group_id text, OUT name text, OUT unpaid bigint,
    OUT age_0_7 bigint, OUT age_8_30 bigint, OUT age_over_30 bigint)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- The unpaid balance is aged by the newest sales it could still be
    -- (payments settle the oldest first); carried-over balances keep the
    -- age of the sales they came from.  Days are the ledger's.
    WITH sale AS (
        SELECT e.group_id, e.amount,
               (as_of AT TIME ZONE mekatek.ledger_timezone())::date
               - (e.booked_at AT TIME ZONE mekatek.ledger_timezone())::date AS age,
               sum(e.amount) OVER (PARTITION BY e.group_id ORDER BY e.entry_id DESC) AS newer_incl
          FROM mekatek.ledger_entry e
         WHERE e.kind IN ('sale', 'adjustment') AND e.amount > 0 AND e.booked_at <= as_of
           AND NOT EXISTS (SELECT FROM mekatek.ledger_entry r WHERE r.reverses = e.entry_id)
    ), part AS (
        SELECT s.group_id, s.age,
               greatest(0, least(s.amount, g.unpaid - (s.newer_incl - s.amount))) AS amount
          FROM sale s JOIN mekatek.ledger_group g USING (group_id)
    )
    SELECT g.group_id, g.name, g.unpaid,
           coalesce(sum(p.amount) FILTER (WHERE p.age <= 7), 0)::bigint,
           coalesce(sum(p.amount) FILTER (WHERE p.age BETWEEN 8 AND 30), 0)::bigint,
           coalesce(sum(p.amount) FILTER (WHERE p.age > 30), 0)::bigint
      FROM mekatek.ledger_group g LEFT JOIN part p USING (group_id)
     WHERE g.deleted_at IS NULL
     GROUP BY g.group_id, g.name, g.unpaid
     ORDER BY g.name, g.group_id
$$;
COMMENT ON FUNCTION mekatek.ledger_receivables(timestamptz) IS
'Receivables per registered group: unpaid balance and its ageing (0-7, 8-30, over 30 days, in the ledger''s time zone)';

CREATE FUNCTION mekatek.ledger_report(from_day date, to_day date,
    OUT settlement_id bigint, OUT group_id text, OUT name text, OUT settled_day date,
    OUT carried_in bigint, OUT transactions bigint, OUT paid bigint, OUT unpaid bigint)
RETURNS SETOF record
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.settlement_id, s.group_id, g.name,
           (s.settled_at AT TIME ZONE mekatek.ledger_timezone())::date,
           s.carried_in, s.transactions, s.paid, s.unpaid
      FROM mekatek.ledger_settlement s JOIN mekatek.ledger_group g USING (group_id)
     WHERE s.settled_at >= (from_day::timestamp AT TIME ZONE mekatek.ledger_timezone())
       AND s.settled_at < ((to_day + 1)::timestamp AT TIME ZONE mekatek.ledger_timezone())
     ORDER BY s.settled_at, s.settlement_id
$$;
COMMENT ON FUNCTION mekatek.ledger_report(date, date) IS
'Every settlement of the period from_day..to_day (days in the ledger''s time zone), as rows; the report command sends the same as text';

CREATE FUNCTION mekatek.ledger_autocharge_run() RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(mekatek.outbox_enqueue('ledger', jsonb_build_object(
               'group_id', g.group_id, 'action', 'autocharge',
               'reply', 'Reminder for ' || g.name || ': unpaid ' || mekatek.ledger_format(g.unpaid))))::integer
      FROM mekatek.ledger_group g
     WHERE g.autocharge AND g.deleted_at IS NULL AND g.unpaid > 0
$$;
COMMENT ON FUNCTION mekatek.ledger_autocharge_run() IS
'Queue a payment reminder (outbox channel ledger) for every group with autocharge on and an unpaid balance; returns how many (schedule it with pg_cron)';

-- ---------------------------------------------------------------- privileges

GRANT EXECUTE ON FUNCTION mekatek.chat_ingest(text, text, text, text, timestamptz, text, text, boolean, text)
    TO mekatek_bot, mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.chat_parse(text), mekatek.ledger_amount(text), mekatek.ledger_format(bigint),
    mekatek.ledger_phone(text), mekatek.ledger_timezone(),
    mekatek.ledger_receivables(timestamptz), mekatek.ledger_report(date, date) TO mekatek_admin, mekatek_analyst;
GRANT EXECUTE ON FUNCTION mekatek.ledger_setup(text, text), mekatek.ledger_autocharge_run() TO mekatek_admin;
GRANT SELECT ON mekatek.ledger_command, mekatek.ledger_role, mekatek.ledger_role_permission,
    mekatek.ledger_user, mekatek.ledger_user_role, mekatek.ledger_group, mekatek.ledger_entry,
    mekatek.ledger_settlement, mekatek.ledger_message, mekatek.ledger_reject, mekatek.ledger_audit
    TO mekatek_admin;
GRANT SELECT ON mekatek.ledger_group, mekatek.ledger_entry, mekatek.ledger_settlement TO mekatek_analyst;

-- The owner's data.  ledger_command is the extension's own (recreated by
-- this script), so it is not dumped.
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_role', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_role_permission', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_user', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_user_role', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_group', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_entry', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_settlement', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_message', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_reject', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_audit', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_user_user_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_entry_entry_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_settlement_settlement_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_reject_reject_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.ledger_audit_audit_id_seq', '');
