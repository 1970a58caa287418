-- Mekatek upgrade 0.1.0 -> 0.2.0, module firewall.  Generated from
-- firewall.sql's new and changed objects; keep the two in step.

-- Built-in LOG prefix -> action defaults (fw_prefix_action overrides them).
CREATE TABLE mekatek.fw_prefix_action_default (
    prefix text PRIMARY KEY,
    action text NOT NULL CHECK (action IN ('accept', 'deny', 'drop', 'reject')),
    origin text NOT NULL
);
COMMENT ON TABLE mekatek.fw_prefix_action_default IS
    'Built-in LOG prefixes (ufw, firewalld, common hand-written ones) and the action each stands for; a row of mekatek.fw_prefix_action with the same prefix overrides it';
INSERT INTO mekatek.fw_prefix_action_default (prefix, action, origin) VALUES
    ('[UFW BLOCK]', 'drop', 'ufw'),
    ('[UFW LIMIT BLOCK]', 'drop', 'ufw'),
    ('[UFW ALLOW]', 'accept', 'ufw'),
    ('FINAL_REJECT:', 'reject', 'firewalld'),
    ('filter_IN_public_REJECT:', 'reject', 'firewalld'),
    ('filter_IN_public_DROP:', 'drop', 'firewalld'),
    ('filter_FWD_public_REJECT:', 'reject', 'firewalld'),
    ('filter_FWD_public_DROP:', 'drop', 'firewalld'),
    ('DROP', 'drop', 'common'),
    ('DROP:', 'drop', 'common'),
    ('DROPPED:', 'drop', 'common'),
    ('REJECT', 'reject', 'common'),
    ('REJECT:', 'reject', 'common'),
    ('ACCEPT', 'accept', 'common'),
    ('ACCEPT:', 'accept', 'common');

-- iptables-save -c counters, -g (goto).
ALTER TABLE mekatek.fw_rule ADD COLUMN packets bigint CHECK (packets >= 0),
                            ADD COLUMN bytes bigint CHECK (bytes >= 0),
                            ADD COLUMN "goto" boolean NOT NULL DEFAULT false CHECK (NOT "goto" OR target IS NOT NULL);
COMMENT ON TABLE mekatek.fw_rule IS
    'Ordered filter rules of named policies; NULL means any.  action is NULL for a non-terminating target (LOG, a user chain: see target); matches keeps, in order, the iptables options the columns cannot represent (state, limit, icmp-type, negations...), and flag the rule; packets and bytes are iptables-save -c counters; goto marks -g (target names the chain)';

-- Policies and their address family; an unknown policy is an error.
CREATE TABLE mekatek.fw_policy (
    policy      text PRIMARY KEY,
    family      int NOT NULL CHECK (family IN (4, 6)),
    imported_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mekatek.fw_policy IS
    'The imported policies and the address family of each (one per policy: iptables-restore and ip6tables-restore each refuse the other''s rules); fw_import_iptables writes it';
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_policy', '');


------------------------------------------------------------------------
-- Threat alerts (src/firewall/alert.c)
------------------------------------------------------------------------

CREATE TABLE mekatek.fw_alert (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('port_scan', 'host_scan', 'brute_force', 'flood')),
    src         inet,
    dst         inet,
    dport       int CHECK (dport BETWEEN 0 AND 65535),
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL CHECK (last_seen >= first_seen),
    events      bigint NOT NULL CHECK (events > 0),
    detected_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mekatek.fw_alert IS
    'Threats found in the log as it is loaded, one row per burst: port_scan (src probed many ports of dst; events = ports), host_scan (src probed many hosts; events = hosts), brute_force (src opened many connections to service dport of dst; events = SYNs), flood (many packets to dst; events = packets); each new row is also a NOTIFY on channel mekatek_firewall with the row as JSON';
CREATE INDEX fw_alert_key ON mekatek.fw_alert (kind, src, dst, dport, last_seen);
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_alert', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_alert_id_seq', '');

CREATE FUNCTION mekatek.fw_log_alert_trg() RETURNS trigger
AS 'MODULE_PATHNAME', 'mk_fw_log_alert_trg'
LANGUAGE C
SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.fw_log_alert_trg() IS
    'Trigger (AFTER INSERT ON mekatek.fw_log FOR EACH STATEMENT): finds scans, brute force and floods among the statement''s new rows (settings mekatek.fw_alert_window, fw_scan_ports, fw_scan_hosts, fw_bruteforce_attempts, fw_bruteforce_ports, fw_flood_packets; mekatek.fw_alerts off disables it), records them in mekatek.fw_alert and notifies mekatek_firewall';
CREATE TRIGGER fw_log_alert AFTER INSERT ON mekatek.fw_log
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mekatek.fw_log_alert_trg();

CREATE FUNCTION mekatek.fw_policy_family(policy text) RETURNS int
AS 'MODULE_PATHNAME', 'mk_fw_policy_family_sql'
LANGUAGE C STABLE STRICT
SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.fw_policy_family(text) IS
    'The address family (4 or 6) of a policy: mekatek.fw_policy''s, else that of its rules'' addresses and ICMP protocol, else 4; ERROR 42704 for a policy with no rule, chain policy or fw_policy row, 22023 for one whose rules mix the families';

CREATE FUNCTION mekatek.fw_trace(policy text, chain text DEFAULT 'INPUT', proto text DEFAULT 'tcp',
                                  src inet DEFAULT NULL, dst inet DEFAULT NULL,
                                  sport int DEFAULT NULL, dport int DEFAULT NULL,
                                  in_iface text DEFAULT NULL, out_iface text DEFAULT NULL,
                                  state text DEFAULT 'NEW', icmp_type int DEFAULT NULL,
                                  icmp_code int DEFAULT NULL, tcp_flags text DEFAULT NULL)
RETURNS TABLE (step int, chain text, "position" int, target text, verdict text, certain boolean)
AS 'MODULE_PATHNAME', 'mk_fw_trace'
LANGUAGE C STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.fw_trace(text, text, text, inet, inet, int, int, text, text, text, int, int, text) IS
    'Which rule decides a packet: every rule the packet matches on its way through the chain (LOG rules, jumps into user chains, RETURN), the last row the verdict (position NULL: the chain policy).  A rule with a match Mekatek does not model is a row with certain false and the packet goes on; the verdict is then not certain.  tcp_flags NULL means SYN for a NEW packet, ACK otherwise';

CREATE OR REPLACE FUNCTION mekatek.fw_port_text(r int4range) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- an empty range matches no port; writing it as any port would turn
    -- the rule into one that matches every port
    IF isempty(r) THEN
        RAISE EXCEPTION 'fw_port_text: the port range is empty; iptables has no way to write it'
            USING ERRCODE = '22023', HINT = 'Delete the rule, or give it a range that holds a port.';
    END IF;
    RETURN CASE WHEN coalesce(lower(r), 0) = coalesce(upper(r) - 1, 65535) THEN coalesce(lower(r), 0)::text
                ELSE coalesce(lower(r), 0) || ':' || coalesce(upper(r) - 1, 65535) END;
END $$;
COMMENT ON FUNCTION mekatek.fw_port_text(int4range) IS
    'A port range as iptables writes it: 22 or 1024:65535; ERROR 22023 for an empty range';

CREATE OR REPLACE FUNCTION mekatek.fw_export_iptables(policy text) RETURNS text
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    script text;
    policy_family int;
    bad int;
BEGIN
    -- an unknown name must be an error: the script of an empty policy,
    -- restored, would flush every filter rule
    policy_family := mekatek.fw_policy_family(policy);
    -- an empty port range matches no port, and iptables cannot write one
    bad := (SELECT min(r.position) FROM mekatek.fw_rule r
             WHERE r.policy = $1 AND (isempty(r.sport) OR isempty(r.dport)));
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'fw_export_iptables: rule % of policy "%" has an empty port range', bad, left(policy, 64)
            USING ERRCODE = '22023', HINT = 'It matches no packet: delete it, or give it a range that holds a port.';
    END IF;
    WITH chains AS (
        SELECT c.chain, upper(c.action) AS action FROM mekatek.fw_chain_policy c WHERE c.policy = $1
        UNION
        SELECT DISTINCT r.direction,
               CASE WHEN r.direction IN ('INPUT', 'FORWARD', 'OUTPUT') THEN 'ACCEPT' ELSE '-' END
          FROM mekatek.fw_rule r
         WHERE r.policy = $1 AND r.direction IS NOT NULL
           AND NOT EXISTS (SELECT FROM mekatek.fw_chain_policy c WHERE c.policy = $1 AND c.chain = r.direction)
    ), lines AS (
        SELECT 0 AS k, 0 AS o, '' AS chain, '*filter' AS line
        UNION ALL
        SELECT 1, coalesce(array_position(ARRAY['INPUT', 'FORWARD', 'OUTPUT'], chain), 4), chain,
               format(':%s %s [0:0]', chain, action)
          FROM chains
        UNION ALL
        SELECT 2, r.position, '', mekatek.fw_rule_text(r, true)
          FROM mekatek.fw_rule r WHERE r.policy = $1
        UNION ALL
        SELECT 3, 0, '', 'COMMIT'
    )
    SELECT string_agg(line, E'\n' ORDER BY k, o, chain) || E'\n' INTO script FROM lines;
    RETURN script;
END $$;
COMMENT ON FUNCTION mekatek.fw_export_iptables(text) IS
    'The policy as an iptables-restore script (filter table; ip6tables-restore for an IPv6 policy), rules in position order, iptables-save -c counters kept; importing it again gives the same rows.  ERROR 42704 for an unknown policy';

CREATE OR REPLACE FUNCTION mekatek.fw_rule_trend(policy text, since timestamptz, until timestamptz,
                                      "window" interval DEFAULT '1 week')
RETURNS TABLE ("position" int, hits bigint, probability float8, dominant boolean, decaying boolean,
               window_probabilities float8[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    policy_family int;
BEGIN
    IF policy IS NULL OR since IS NULL OR until IS NULL OR "window" IS NULL THEN
        RAISE EXCEPTION 'fw_rule_trend: policy, since, until and window must not be null'
            USING ERRCODE = '22004';
    END IF;
    IF "window" <= interval '0' OR since >= until THEN
        RAISE EXCEPTION 'fw_rule_trend: window % must be positive and since (%) before until (%)', "window", since, until
            USING ERRCODE = '22023';
    END IF;
    IF since + 1000 * "window" < until THEN
        RAISE EXCEPTION 'fw_rule_trend: more than 1000 windows of % between % and %', "window", since, until
            USING ERRCODE = '22023', HINT = 'Use a longer window.';
    END IF;
    -- an unknown policy is refused here, before the query that would quote
    -- itself in the error's context
    policy_family := mekatek.fw_policy_family(policy);
    RETURN QUERY
    WITH total AS (
        SELECT f.position, f.hits, f.probability
          FROM mekatek.fw_rule_usage(policy, since, until) f WHERE f.position IS NOT NULL
    ), ranked AS (
        -- the dominant rules: the most used ones that together carry 70%
        SELECT t.*, sum(t.probability) OVER (ORDER BY t.probability DESC, t.position
                                             ROWS UNBOUNDED PRECEDING) - t.probability AS before
          FROM total t
    ), series AS (
        SELECT f.position, array_agg(f.probability ORDER BY g.n) AS probs
          FROM generate_series(since, until - interval '1 microsecond', "window") WITH ORDINALITY AS g(ws, n),
               LATERAL mekatek.fw_rule_usage(policy, g.ws, least(g.ws + "window", until)) f
         WHERE f.position IS NOT NULL
         GROUP BY f.position
    )
    SELECT r.position, r.hits, r.probability,
           r.before < 0.7 AND r.hits > 0,
           -- decaying: never used, or its share fell in each of the last
           -- two window steps, to at most half of its best window
           r.hits = 0 OR coalesce((
               SELECT bool_and(p.v < p.prev) AND count(*) = 2
                      AND s.probs[cardinality(s.probs)] <= 0.5 * (SELECT max(m) FROM unnest(s.probs) m)
                 FROM (SELECT v, lag(v) OVER (ORDER BY o) AS prev, o
                         FROM unnest(s.probs) WITH ORDINALITY AS u(v, o)) p
                WHERE p.o > cardinality(s.probs) - 2 AND p.prev IS NOT NULL), false),
           s.probs
      FROM ranked r LEFT JOIN series s ON s.position = r.position
     ORDER BY r.position;
END $$;
COMMENT ON FUNCTION mekatek.fw_rule_trend(text, timestamptz, timestamptz, interval) IS
    'Per rule: usage over [since, until), dominant (among the most used rules that together carry at least 70% of the traffic), decaying (no hits, or a share that fell in each of the last two window steps to at most half of its best window), and the probability per window';

CREATE OR REPLACE FUNCTION mekatek.fw_mine(since timestamptz, until timestamptz, min_support float8,
                                min_confidence float8)
RETURNS TABLE (antecedent text[], action text, support float8, confidence float8, lift float8,
               count bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    e_state text;
    e_msg text;
    e_detail text;
    e_hint text;
BEGIN
    IF since IS NULL OR until IS NULL THEN
        RAISE EXCEPTION 'fw_mine: since and until must not be null' USING ERRCODE = '22004';
    ELSIF since > until THEN
        RAISE EXCEPTION 'fw_mine: since (%) is after until (%)', since, until
            USING ERRCODE = '22023', HINT = 'The window is [since, until): since comes first.';
    END IF;
    -- One basket per logged packet; items are nominal attributes, addresses
    -- as their /24 (IPv6 /64) network and ephemeral source ports as one
    -- range, as fw_generalize does.  NULL attributes give NULL items, which
    -- the engine ignores.  Only rules that predict the action are kept.
    RETURN QUERY
    SELECT a.antecedent, substr(a.consequent[1], 8), a.support, a.confidence, a.lift, a.count
      FROM mekatek.apriori(format(
               $q$SELECT ARRAY['direction=' || l.direction,
                              'proto=' || lower(l.proto),
                              'src=' || network(set_masklen(l.src, CASE WHEN family(l.src) = 4 THEN 24 ELSE 64 END)),
                              'sport=' || CASE WHEN l.spt >= 1024 THEN '1024-65535' ELSE l.spt::text END,
                              'dst=' || network(set_masklen(l.dst, CASE WHEN family(l.dst) = 4 THEN 24 ELSE 64 END)),
                              'dport=' || l.dpt,
                              'action=' || l.action]
                   FROM mekatek.fw_log l
                  WHERE l.logged_at >= %L::timestamptz AND l.logged_at < %L::timestamptz$q$,
               since, until), min_support, min_confidence) a
     WHERE cardinality(a.consequent) = 1 AND a.consequent[1] LIKE 'action=%'
     ORDER BY a.confidence DESC, a.support DESC, a.antecedent;
EXCEPTION WHEN OTHERS THEN
    -- the caller sees its own call, not the query built above (issue 14):
    -- the error is raised again without the context that quotes it
    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                            e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
    IF e_msg NOT LIKE 'fw_mine: %' THEN
        e_msg := 'fw_mine: ' || e_msg;
    END IF;
    IF e_detail = '' AND e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_msg;
    ELSIF e_detail = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_msg, HINT = e_hint;
    ELSIF e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_msg, DETAIL = e_detail;
    ELSE
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_msg, DETAIL = e_detail, HINT = e_hint;
    END IF;
END $$;
COMMENT ON FUNCTION mekatek.fw_mine(timestamptz, timestamptz, float8, float8) IS
    'Association rules over the log of [since, until) with the action on the right-hand side (Golnabi et al.), mined by the basket module''s Apriori (mekatek.apriori): items direction=, proto=, src=/24, sport=, dst=/24, dport=';

COMMENT ON FUNCTION mekatek.fw_import_iptables(text, text) IS
    'Replaces the rules of a policy with those of an iptables-save dump (with or without -c counters) or a script of iptables/ip6tables -A/-P command lines, and records the policy and its address family in mekatek.fw_policy; every problem is an ERROR naming the line (an option given twice, a second chain policy or COMMIT, a table without COMMIT, a bad address, mask or port, both families in one policy); unrepresentable matches are kept in matches and flagged; returns the number of rules';

COMMENT ON FUNCTION mekatek.fw_anomalies(text) IS
    'Every ordered pair of rules (rule_a before rule_b) classified as shadowing, correlation, generalization or redundancy by Al-Shaer and Hamed''s definitions (deny, drop and reject count as one decision), over the evaluation order with user chains inlined at their jumps; state, multiport, iprange, icmp-type, tcp-flags and negations are exact; a rule with a match Mekatek does not model is never classified but may decide any of its packets (so no redundancy is reported across it), with a NOTICE';

COMMENT ON FUNCTION mekatek.fw_rule_usage(text, timestamptz, timestamptz) IS
    'Matches each logged packet of [since, until) first-match against the policy; per rule its hits, P = f/N and the running sum in policy order; a last row with position NULL counts the packets no rule matched.  Only packets of the policy''s address family count (an IPv4 policy never sees IPv6 traffic).  A NULL bound is open (and only then are lines without a header time counted); since after until is an ERROR';

-- Grants on the objects new in 0.2.0 (the upgrade script repeats them).
GRANT SELECT ON mekatek.fw_policy, mekatek.fw_prefix_action_default, mekatek.fw_alert TO mekatek_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE ON mekatek.fw_policy, mekatek.fw_alert TO mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.fw_log_alert_trg() TO mekatek_admin;
GRANT EXECUTE ON FUNCTION mekatek.fw_policy_family(text),
                mekatek.fw_trace(text, text, text, inet, inet, int, int, text, text, text, int, int, text)
      TO mekatek_analyst;

-- ---------------------------------------------------------------------
-- pg_dump: these tables hold what users wrote, so pg_dump must write
-- their rows (and the sequences' positions) although they belong to the
-- extension.  A restore loads them with session_replication_role =
-- replica so that no trigger acts on them a second time (README, DBA).
-- ---------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_prefix_action', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_log', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_log_raw', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_reject', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_rule', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_chain_policy', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_log_raw_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mekatek.fw_reject_id_seq', '');

-- fw_reject: admins only (issue 14 §4); analysts read the counts.
REVOKE SELECT ON mekatek.fw_reject FROM mekatek_analyst;
-- Rejected lines may hold anything of the file that was read (a secret, a
-- password file): only admins read fw_reject; analysts see how many lines
-- each load rejected, never their text.
CREATE VIEW mekatek.fw_reject_counts WITH (security_barrier) AS
SELECT r.source, count(*) AS rejected, min(r.line_no) AS first_line_no,
       min(r.rejected_at) AS first_rejected_at, max(r.rejected_at) AS last_rejected_at
  FROM mekatek.fw_reject r
 GROUP BY r.source;
COMMENT ON VIEW mekatek.fw_reject_counts IS
    'Per source file (NULL: fw_load and fw_load_raw) the number of rejected lines and when; the lines themselves are in mekatek.fw_reject, which only admins read';
GRANT SELECT ON mekatek.fw_reject_counts TO mekatek_analyst;

CREATE FUNCTION mekatek.fw_policy_new(policy text, new_policy text, caller text) RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    policy_family int;
BEGIN
    IF policy IS NULL OR new_policy IS NULL THEN
        RAISE EXCEPTION '%: policy and new_policy must not be null', caller USING ERRCODE = '22004';
    END IF;
    -- an unknown policy is an error (42704), not an empty new policy
    policy_family := mekatek.fw_policy_family(policy);
    IF new_policy = policy OR EXISTS (SELECT FROM mekatek.fw_rule r WHERE r.policy = new_policy)
       OR EXISTS (SELECT FROM mekatek.fw_chain_policy c WHERE c.policy = new_policy)
       OR EXISTS (SELECT FROM mekatek.fw_policy p WHERE p.policy = new_policy) THEN
        RAISE EXCEPTION '%: policy "%" already exists', caller, left(new_policy, 64)
            USING ERRCODE = '42710', HINT = 'Name a new policy; ' || caller || ' never overwrites one.';
    END IF;
    INSERT INTO mekatek.fw_policy (policy, family) VALUES (new_policy, policy_family);
    INSERT INTO mekatek.fw_chain_policy (policy, chain, action)
    SELECT new_policy, c.chain, c.action FROM mekatek.fw_chain_policy c WHERE c.policy = $1;
    RETURN policy_family;
END $$;
COMMENT ON FUNCTION mekatek.fw_policy_new(text, text, text) IS
    'fw_apply_order''s and fw_merge''s first step: new_policy with the family and chain policies of policy and no rule yet; ERROR 42704 for an unknown policy, 42710 when new_policy exists (caller names the function in the message)';
GRANT EXECUTE ON FUNCTION mekatek.fw_policy_new(text, text, text) TO mekatek_admin;

CREATE FUNCTION mekatek.fw_apply_order(policy text, new_policy text) RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    policy_family int;
    n int;
BEGIN
    policy_family := mekatek.fw_policy_new(policy, new_policy, 'fw_apply_order');
    INSERT INTO mekatek.fw_rule (policy, position, direction, proto, src, sport, dst, dport, action,
                                 in_iface, out_iface, target, target_options, matches, packets, bytes, "goto")
    SELECT new_policy, o.new_position, r.direction, r.proto, r.src, r.sport, r.dst, r.dport, r.action,
           r.in_iface, r.out_iface, r.target, r.target_options, r.matches, r.packets, r.bytes, r."goto"
      FROM mekatek.fw_suggest_order(policy) o
      JOIN mekatek.fw_rule r ON r.policy = $1 AND r.position = o.position
     ORDER BY o.new_position;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION mekatek.fw_apply_order(text, text) IS
    'Writes the order of mekatek.fw_suggest_order(policy) as a new policy new_policy (rules, chain policies, family; counters kept), ready for fw_export_iptables; no packet''s decision changes.  ERROR 42704 for an unknown policy, 42710 when new_policy exists; returns the number of rules';
GRANT EXECUTE ON FUNCTION mekatek.fw_apply_order(text, text) TO mekatek_admin;

CREATE FUNCTION mekatek.fw_rule_text(r mekatek.fw_rule, counters boolean DEFAULT false) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
SELECT CASE WHEN r.direction IS NULL
            THEN format('# position %s is not exported: it has no chain (direction is NULL)', r.position)
            ELSE concat_ws(' ',
       CASE WHEN counters AND r.packets IS NOT NULL THEN format('[%s:%s]', r.packets, coalesce(r.bytes, 0)) END,
       '-A ' || r.direction,
       '-s ' || r.src, '-d ' || r.dst,
       '-i ' || mekatek.fw_iptables_quote(r.in_iface), '-o ' || mekatek.fw_iptables_quote(r.out_iface),
       '-p ' || r.proto,
       CASE WHEN r.proto IN ('tcp', 'udp', 'sctp', 'udplite') THEN '-m ' || r.proto END,
       '--sport ' || mekatek.fw_port_text(r.sport), '--dport ' || mekatek.fw_port_text(r.dport),
       (SELECT string_agg(mekatek.fw_iptables_quote(m), ' ' ORDER BY n)
          FROM jsonb_array_elements_text(r.matches) WITH ORDINALITY AS j(m, n)),
       CASE WHEN r."goto" THEN '-g ' ELSE '-j ' END
           || coalesce(r.target, CASE r.action WHEN 'deny' THEN 'DROP' ELSE upper(r.action) END),
       (SELECT string_agg(mekatek.fw_iptables_quote(m), ' ' ORDER BY n)
          FROM jsonb_array_elements_text(r.target_options) WITH ORDINALITY AS j(m, n))) END $$;
COMMENT ON FUNCTION mekatek.fw_rule_text(mekatek.fw_rule, boolean) IS
    'One rule as an iptables-restore line (-A CHAIN ... -j TARGET), with its [packets:bytes] counters when counters is true; fw_export_iptables writes each rule this way';

CREATE FUNCTION mekatek.fw_diff(policy_a text, policy_b text)
RETURNS TABLE (change text, position_a int, position_b int, rule text, chain text,
               verdict_a text, verdict_b text, proto text, src inet, dst inet, sport int, dport int,
               icmp_type int, icmp_code int, tcp_flags text, state text, in_iface text, out_iface text,
               certain boolean)
AS 'MODULE_PATHNAME', 'mk_fw_diff'
LANGUAGE C STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, mekatek, pg_temp;
COMMENT ON FUNCTION mekatek.fw_diff(text, text) IS
    'What changes from policy_a to policy_b: rules removed, added and moved (a rule is the same when every field but position and counters is; moved are the rules outside a longest order both share), chain policies changed, and a decision row for every pair of deciding rules (position NULL: the chain policy) whose verdicts differ on some packet, with one such packet found exactly over the flattened orders (ready for fw_trace; certain false when a deciding rule has a match Mekatek does not model).  Work bounded by mekatek.fw_diff_work (ERROR 54000 past it); ERROR 42704 for an unknown policy';
GRANT EXECUTE ON FUNCTION mekatek.fw_rule_text(mekatek.fw_rule, boolean), mekatek.fw_diff(text, text)
      TO mekatek_analyst;

CREATE FUNCTION mekatek.fw_suggest_insert(policy text, rule text,
                                          OUT "position" int, OUT after_rule int, OUT before_rule int,
                                          OUT anomalies text[])
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    scratch text := 'mekatek suggest ' || pg_backend_pid();
    chain text;
    script text;
    lines text[];
    placed text := '';
    k int := 0;
    n int;
    orig int[];                 -- original positions in order: orig[k] is the k-th rule
    lo int;                     -- last rule the new one must follow (generalization)
    hi int;                     -- first rule the new one must precede (shadowing)
    idx int;                    -- where it goes, as an index into orig (cardinality + 1: the end)
    notes text[];
BEGIN
    IF policy IS NULL OR rule IS NULL THEN
        RAISE EXCEPTION 'fw_suggest_insert: policy and rule must not be null' USING ERRCODE = '22004';
    END IF;
    chain := upper(substring(rule FROM '^\s*(?:ip6?tables\s+)?-A\s+(\S+)'));
    IF chain IS NULL OR rule ~ '[\n\r]' THEN
        RAISE EXCEPTION 'fw_suggest_insert: rule "%" is not one "-A CHAIN ..." line', left(rule, 64)
            USING ERRCODE = '22023', HINT = 'Give the rule as iptables-save writes it: -A INPUT -p tcp --dport 22 -j ACCEPT.';
    END IF;
    -- an unknown policy is an error (42704)
    script := mekatek.fw_export_iptables(policy);
    orig := ARRAY(SELECT r.position FROM mekatek.fw_rule r WHERE r.policy = $1 ORDER BY r.position);
    lines := string_to_array(rtrim(regexp_replace(script, 'COMMIT\n$', ''), E'\n'), E'\n');
    -- The advisor's placement (Al-Shaer and Hamed): the new rule goes after
    -- every rule of its chain it must follow (it generalises them with
    -- another decision: before them it would shadow them) and before every
    -- rule it must precede (it is a subset of them with another decision:
    -- after them it would be shadowed), as early as that allows.  The
    -- relations come from fw_anomalies on copies of the policy, built in a
    -- subtransaction that is rolled back: one with the rule at the end, one
    -- with it where it goes (the anomalies it keeps there).
    BEGIN
        -- the rule alone first, so that its problems are errors about it
        n := mekatek.fw_import_iptables(scratch, rule);
        n := mekatek.fw_import_iptables(scratch, array_to_string(lines, E'\n') || E'\n' || rule || E'\nCOMMIT\n');
        IF n <> cardinality(orig) + 1 THEN
            RAISE EXCEPTION 'fw_suggest_insert: rule "%" is not one rule', left(rule, 64) USING ERRCODE = '22023';
        END IF;
        SELECT max(a.rule_a) FILTER (WHERE a.anomaly = 'generalization'),
               min(a.rule_a) FILTER (WHERE a.anomaly = 'shadowing')
          INTO lo, hi
          FROM mekatek.fw_anomalies(scratch) a
          JOIN mekatek.fw_rule r ON r.policy = scratch AND r.position = a.rule_a AND r.direction = chain
         WHERE a.rule_b = n;
        IF lo IS NOT NULL AND hi IS NOT NULL AND lo >= hi THEN
            idx := hi;          -- no place avoids an anomaly: where it takes effect
        ELSIF lo IS NOT NULL THEN
            idx := lo + 1;      -- as early as allowed: right after the last it must follow
        ELSE
            idx := coalesce((SELECT min(r.position) FROM mekatek.fw_rule r
                              WHERE r.policy = scratch AND r.direction = chain AND r.position < n), n);
        END IF;
        FOREACH script IN ARRAY lines LOOP
            IF script ~ '^(\[\d+:\d+\] )?-A ' THEN
                k := k + 1;
                IF k = idx THEN
                    placed := placed || rule || E'\n';
                END IF;
            END IF;
            placed := placed || script || E'\n';
        END LOOP;
        IF idx > k THEN
            placed := placed || rule || E'\n';
        END IF;
        n := mekatek.fw_import_iptables(scratch, placed || E'COMMIT\n');
        notes := ARRAY(SELECT a.anomaly || ' with rule ' || orig[CASE WHEN o < idx THEN o ELSE o - 1 END]
                         FROM mekatek.fw_anomalies(scratch) a,
                              LATERAL (SELECT CASE WHEN a.rule_a = idx THEN a.rule_b ELSE a.rule_a END) x(o)
                        WHERE idx IN (a.rule_a, a.rule_b)
                        ORDER BY o, a.anomaly);
        RAISE EXCEPTION USING ERRCODE = 'MKRB1', MESSAGE = 'fw_suggest_insert: roll back the copies';
    EXCEPTION WHEN SQLSTATE 'MKRB1' THEN
        NULL;
    END;
    "position" := orig[idx];
    after_rule := orig[lo];
    before_rule := orig[hi];
    anomalies := notes;
    IF lo IS NOT NULL AND hi IS NOT NULL AND lo >= hi THEN
        anomalies := array_append(anomalies,
                         format('no position avoids an anomaly: rule %s must come first, rule %s after', orig[lo], orig[hi]));
    END IF;
END $$;
COMMENT ON FUNCTION mekatek.fw_suggest_insert(text, text) IS
    'Where one new rule (an iptables -A line) should go, as Al-Shaer and Hamed''s policy advisor places it: after every rule of its chain it generalises with another decision and before every rule that would shadow it, as early as that allows.  position is the rule it goes before (NULL: the end), after_rule and before_rule the bounds, anomalies the relations it keeps there (correlation, redundancy; a conflict when no position avoids one).  Admins: it analyses a copy of the policy in a rolled-back subtransaction';

CREATE FUNCTION mekatek.fw_merge(policy text, rules text, new_policy text)
RETURNS TABLE (rule text, "position" int, anomalies text[])
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, mekatek, pg_temp
AS $$
DECLARE
    policy_family int;
    line text;
    s record;
    scratch text := 'mekatek merge ' || pg_backend_pid();
    pos int;
BEGIN
    IF rules IS NULL THEN
        RAISE EXCEPTION 'fw_merge: rules must not be null' USING ERRCODE = '22004';
    END IF;
    policy_family := mekatek.fw_policy_new(policy, new_policy, 'fw_merge');
    INSERT INTO mekatek.fw_rule (policy, position, direction, proto, src, sport, dst, dport, action,
                                 in_iface, out_iface, target, target_options, matches, packets, bytes, "goto")
    SELECT new_policy, r.position, r.direction, r.proto, r.src, r.sport, r.dst, r.dport, r.action,
           r.in_iface, r.out_iface, r.target, r.target_options, r.matches, r.packets, r.bytes, r."goto"
      FROM mekatek.fw_rule r WHERE r.policy = $1;
    -- one rule at a time, each placed by the advisor in the policy as the
    -- rules before it left it
    FOR line IN SELECT l FROM regexp_split_to_table(rules, E'\r?\n') WITH ORDINALITY AS t(l, k)
                 WHERE l !~ '^\s*(#.*)?$' AND l !~ '^\s*(\*filter|COMMIT|:)' ORDER BY k LOOP
        s := mekatek.fw_suggest_insert(new_policy, line);
        -- the rule's row, parsed by the importer (its own problems are
        -- line-numbered errors there)
        PERFORM mekatek.fw_import_iptables(scratch, line);
        pos := coalesce(s."position",
                        (SELECT coalesce(max(r.position), 0) + 1 FROM mekatek.fw_rule r WHERE r.policy = new_policy));
        -- make room: through a range no position uses, as the primary key
        -- is checked row by row
        UPDATE mekatek.fw_rule r SET position = r.position + 1000000000
         WHERE r.policy = new_policy AND r.position >= pos;
        UPDATE mekatek.fw_rule r SET position = r.position - 999999999
         WHERE r.policy = new_policy AND r.position >= 1000000000;
        INSERT INTO mekatek.fw_rule (policy, position, direction, proto, src, sport, dst, dport, action,
                                     in_iface, out_iface, target, target_options, matches, packets, bytes, "goto")
        SELECT new_policy, pos, r.direction, r.proto, r.src, r.sport, r.dst, r.dport, r.action,
               r.in_iface, r.out_iface, r.target, r.target_options, r.matches, NULL, NULL, r."goto"
          FROM mekatek.fw_rule r WHERE r.policy = scratch;
        DELETE FROM mekatek.fw_rule r WHERE r.policy = scratch;
        DELETE FROM mekatek.fw_chain_policy c WHERE c.policy = scratch;
        DELETE FROM mekatek.fw_policy p WHERE p.policy = scratch;
        rule := line;
        "position" := pos;
        anomalies := s.anomalies;
        RETURN NEXT;
    END LOOP;
END $$;
COMMENT ON FUNCTION mekatek.fw_merge(text, text, text) IS
    'Copies policy to new_policy and inserts each rule of rules (iptables -A lines, e.g. from fw_generalize or fw_mine) at the position fw_suggest_insert gives, one after the other; one row per rule: where it went and the anomalies it keeps there.  ERROR 42704 for an unknown policy, 42710 when new_policy exists';
GRANT EXECUTE ON FUNCTION mekatek.fw_suggest_insert(text, text), mekatek.fw_merge(text, text, text) TO mekatek_admin;
