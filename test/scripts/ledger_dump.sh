#!/usr/bin/env bash
# ledger: the books survive pg_dump and restore.  A day is ingested, the
# database dumped (pg_dump -Fc) and restored into a new one; the restored
# books are row for row the same (every ledger table registered with
# pg_extension_config_dump, the append-only triggers do not stand in the
# way of the restore), the sequences continue after the restored ids, and
# a redelivered message is still answered as a duplicate.
set -euo pipefail
[ -n "${PGHOST:-}" ] || { echo "needs the test cluster (run through make test)"; exit 77; }
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
work=${MK_BUILD:-/tmp}/ledger-dump
rm -rf "$work"; mkdir -p "$work"
for d in ledger_dump_a ledger_dump_b; do psql -d postgres -c "DROP DATABASE IF EXISTS $d" 2>/dev/null; done
psql -d postgres -c "CREATE DATABASE ledger_dump_a" -c "CREATE DATABASE ledger_dump_b"
psql -d ledger_dump_a -c "CREATE EXTENSION mekatek CASCADE" >/dev/null
psql -d ledger_dump_a >/dev/null <<'SQL'
SELECT mekatek.ledger_setup('6281100000000', 'Budi');
SELECT mekatek.chat_ingest('wa', id, 'g1', '6281100000000', '2026-12-01 09:00+07'::timestamptz + n * interval '1 min', body)
  FROM (VALUES (1, 'a1', 'groupadd 6281200000001 Andi'), (2, 's1', 'done 2 x 50000'), (3, 's2', 'done 1 x 25rb'),
               (4, 'p1', 'payment 60.000'), (5, 'x1', 'cancel'), (6, 'e1', 'settle'), (7, 's3', 'done 3 x 10k'),
               (8, 'r1', 'done 1 x 1.5')) v(n, id, body) ORDER BY n;
SELECT mekatek.chat_ingest('wa', 's3e', 'g1', '6281100000000', '2026-12-01 10:00+07', 'done 4 x 10k', 's3');
SQL

digest() { # db -> one line per ledger table: name, rows, md5 of the rows in key order
    psql -d "$1" -At <<'SQL'
SELECT t, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM mekatek.%I', t), false, true, '')))[1]::text
          || ' ' || (xpath('/row/m/text()', query_to_xml(format('SELECT md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) AS m FROM mekatek.%I x', '|', '', t), false, true, '')))[1]::text
  FROM unnest(ARRAY['ledger_role', 'ledger_role_permission', 'ledger_user', 'ledger_user_role', 'ledger_group',
                    'ledger_entry', 'ledger_settlement', 'ledger_message', 'ledger_reject', 'ledger_audit', 'outbox']) t
 ORDER BY t;
SQL
}
digest ledger_dump_a >"$work/a.digest"
# pg_dump warns about tables that reference themselves (ledger_entry.reverses,
# backup_object): harmless here,
# the foreign-key check of a COPY runs at its end, whatever the row order.
pg_dump -Fc -d ledger_dump_a -f "$work/a.dump" 2>"$work/dump.err" || { cat "$work/dump.err"; exit 1; }
pg_restore -d ledger_dump_b --exit-on-error "$work/a.dump" 2>"$work/restore.err" || { cat "$work/restore.err"; exit 1; }
digest ledger_dump_b >"$work/b.digest"
diff -u "$work/a.digest" "$work/b.digest" || { echo "FAIL: the restored books differ (above)"; exit 1; }
echo "restored: $(awk -F'[| ]' '{s += $2} END {print s}' "$work/b.digest") rows in $(wc -l <"$work/b.digest") tables, identical"

# After the restore: a redelivery is a duplicate, a new sale gets a new id.
out=$(psql -d ledger_dump_b -At -c "SELECT outcome FROM mekatek.chat_ingest('wa', 's1', 'g1', '6281100000000', '2026-12-01 09:02+07', 'done 2 x 50000')")
[ "$out" = duplicate ] || { echo "FAIL: a redelivered message after the restore was $out"; exit 1; }
psql -d ledger_dump_b -At -c "SELECT outcome FROM mekatek.chat_ingest('wa', 's4', 'g1', '6281100000000', '2026-12-02 09:00+07', 'done 1 x 5000')" >/dev/null
ok=$(psql -d ledger_dump_b -At -c "SELECT (SELECT count(DISTINCT entry_id) = count(*) FROM mekatek.ledger_entry)
                                       AND (SELECT sum(amount) FROM mekatek.ledger_entry) = (SELECT unpaid FROM mekatek.ledger_group)")
[ "$ok" = t ] || { echo "FAIL: ids or balance after the restore"; exit 1; }
for d in ledger_dump_a ledger_dump_b; do psql -d postgres -c "DROP DATABASE $d"; done
echo "ledger dump: books restored row for row; redelivery still a duplicate; new entries continue the ids"
