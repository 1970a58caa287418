#!/usr/bin/env bash
# Issue 19, the 1.5x goal: an export of one table formatted by parallel
# workers (mekatek.backup_parallel_workers, s3_export's parallel_workers)
# against @20minutes/s3rver (SigV4 checked).  The object holds the same
# bytes, once decompressed (and decrypted), as the backend's own export,
# for gzip, zstd, zstd + AES-256-GCM and none, with a header and a WHERE;
# it restores; the workers read the caller's snapshot (REPEATABLE READ,
# rows committed since are not in it); a worker's ERROR and a cancel reach
# the caller and leave no multipart upload open; queries that are not one
# plain table take the backend's path and give the same rows.
source "$(dirname "$0")/../backup_s3/lib.sh"

bk_port S3RVER
KEY=MEKATEKPARKEY SECRET='par-S3cret-value'
DB=mekatek_backup_parallel
STORE=$MK_BUILD/backup_parallel_s3rver
KEYS=$MK_BUILD/backup_parallel_keys
bk_npm
command -v zstd >/dev/null || bk_skip "zstd is not installed"
MK_S3_KEY=$KEY MK_S3_SECRET=$SECRET bk_start_s3rver $S3RVER "$STORE" mekatek-test
obj() { echo "$STORE/mekatek-test/$1._S3rver_object"; }
printf '%s\n' "par $(openssl rand -hex 32)" >"$KEYS"; chmod 600 "$KEYS"
[ "$(id -u)" = 0 ] && chown postgres "$KEYS"
bk_s3_settings $S3RVER $KEY "$SECRET" "mekatek.backup_key_file=$KEYS"
cleanup() { bk_s3_settings_reset; rm -f "$KEYS"; bk_stop; }
trap cleanup EXIT
sleep 1

psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
export PGDATABASE=$DB
# Ranges of 8 blocks: the 60,000 rows make a few hundred of them.
export PGOPTIONS="-c mekatek.backup_parallel_chunk=8"
bk_psql <<'SQL'
CREATE EXTENSION mekatek;
CREATE TABLE sales (sale_id bigint PRIMARY KEY, sku text NOT NULL, qty int NOT NULL,
                    price numeric(12, 2) NOT NULL, sold_at timestamptz, note text);
INSERT INTO sales SELECT g, 'SKU-' || (g % 5000), 1 + g % 7, round((g % 100000) / 7.0, 2),
                         timestamptz '2026-01-01 00:00+07' + g * interval '37 seconds',
                         CASE g % 4 WHEN 0 THEN NULL WHEN 1 THEN 'a, "quoted" note' WHEN 2 THEN E'two\nlines' ELSE 'obat batuk — 薬' END
  FROM generate_series(1, 60000) g;
-- Holes and moved rows: the order is the heap's, not sale_id's.
DELETE FROM sales WHERE sale_id % 11 = 0;
UPDATE sales SET qty = qty + 1 WHERE sale_id % 13 = 0;
CREATE TABLE sales_copy (LIKE sales INCLUDING ALL);
SQL
blocks=$(bk_psql -tA -c "SELECT pg_relation_size('sales') / 8192")
echo "# sales: $blocks blocks"

export_n() { # KEY OPTIONS [QUERY]: rows exported
    bk_psql -tA -c "SELECT rows_uploaded FROM mekatek.s3_export('${3:-TABLE sales}', 'mekatek-test', '$1', '$2')"
}
plain() { # KEY: the object's bytes, decompressed and decrypted, via s3_import's reader
    case "$(head -c 4 "$(obj "$1")" | od -An -tx1 | tr -d ' ')" in
        1f8b*) gzip -dc <"$(obj "$1")" ;;
        28b52ffd) zstd -dc <"$(obj "$1")" ;;
        *) cat "$(obj "$1")" ;;
    esac
}
workers_seen() { # the parallel workers the server started so far (pg_stat_database has no count)
    psql -XtA -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'"
}

for c in "gzip" "zstd" "none"; do
    o="format csv, header true, compression $c"
    bk_check "$c: the backend alone exports every row" 54546 "$(export_n "s/$c.0.csv" "$o, parallel_workers 0")"
    bk_check "$c: two parallel workers export every row" 54546 "$(export_n "s/$c.2.csv" "$o, parallel_workers 2")"
    bk_check "$c: the same bytes once decompressed" \
        "$(plain "s/$c.0.csv" | sha256sum)" "$(plain "s/$c.2.csv" | sha256sum)"
done
bk_check "the workers' object is several gzip members (one per range)" t \
    "$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print("t" if d.count(b"\x1f\x8b\x08\x00\x00\x00\x00\x00") > 10 else "f")' "$(obj s/gzip.2.csv)")"
bk_check "one header line, at the top" 1 "$(plain s/zstd.2.csv | grep -c '^sale_id,sku,qty,price,sold_at,note$')"
bk_check "three workers from the setting: the same bytes" "$(plain s/zstd.0.csv | sha256sum)" \
    "$(PGOPTIONS="$PGOPTIONS -c mekatek.backup_parallel_workers=3" export_n s/zstd.3.csv "format csv, header true, compression zstd" >/dev/null
       plain s/zstd.3.csv | sha256sum)"

# A WHERE and a column list, text format, in a client encoding of its own.
q="SELECT sale_id, note, price * qty FROM sales WHERE sku LIKE ''SKU-1%''"
n0=$(export_n s/where.0.txt "compression zstd, parallel_workers 0" "$q")
bk_check "a WHERE query by parallel workers: as many rows" "$n0" "$(export_n s/where.2.txt "compression zstd, parallel_workers 2" "$q")"
bk_check "and the same bytes" "$(plain s/where.0.txt | sha256sum)" "$(plain s/where.2.txt | sha256sum)"
PGCLIENTENCODING=LATIN1 bk_psql -tA -c "SELECT rows_uploaded FROM mekatek.s3_export('SELECT sale_id, sku FROM sales', 'mekatek-test', 's/latin1.0.csv', 'format csv, parallel_workers 0')" >/dev/null
PGCLIENTENCODING=LATIN1 bk_psql -tA -c "SELECT rows_uploaded FROM mekatek.s3_export('SELECT sale_id, sku FROM sales', 'mekatek-test', 's/latin1.2.csv', 'format csv, parallel_workers 2')" >/dev/null
bk_check "the client's encoding, as the backend's COPY gives it" "$(plain s/latin1.0.csv | sha256sum)" "$(plain s/latin1.2.csv | sha256sum)"

# AES-256-GCM over the workers' frames: one stream, one tag, restorable.
bk_check "zstd + AES-256-GCM by parallel workers" 54546 \
    "$(export_n s/aes.2.csv.mke "format csv, compression zstd, encryption_key_id par, parallel_workers 2")"
bk_check "the object is ciphertext" MKE1 "$(head -c 4 "$(obj s/aes.2.csv.mke)")"
bk_check "s3_import decrypts and loads every row, the same rows" "0" \
    "$(bk_psql -tA -c "SELECT mekatek.s3_import('sales_copy', '', 'format csv', 'mekatek-test', 's/aes.2.csv.mke')" >/dev/null
       bk_psql -tA -c "SELECT (SELECT count(*) FROM (TABLE sales EXCEPT ALL TABLE sales_copy) a) + (SELECT count(*) FROM (TABLE sales_copy EXCEPT ALL TABLE sales) b)")"
sha=$(sha256sum "$(obj s/gzip.2.csv)" | cut -d' ' -f1)
bk_check "s3_restore verifies and loads the workers' gzip object" 54546 \
    "$(bk_psql -tA -c "SELECT mekatek.s3_restore('mekatek-test', 's/gzip.2.csv', '$sha', $(stat -c %s "$(obj s/gzip.2.csv)"), 'sales_copy', true, 'format csv, header true')")"

# The workers' CSV writer (csv_fast.c) against COPY: random values of the
# types it formats itself (and of others), in zones with and without DST,
# with offsets in minutes and seconds, LMT, BC, infinity, microseconds, and
# CSV options; every object the same bytes as the backend's COPY.
bk_psql <<'SQL'
DO $$ BEGIN PERFORM setseed(0.19); END $$;
CREATE TABLE prop (i2 int2, i4 int4, i8 int8, t text, v varchar(20), b char(5), n numeric,
                   ts timestamptz, d date);
INSERT INTO prop
SELECT CASE WHEN g % 17 = 0 THEN NULL ELSE (random() * 65535 - 32768)::int2 END,
       CASE g % 50 WHEN 0 THEN -2147483648 WHEN 1 THEN 2147483647 ELSE (random() * 4e9 - 2e9)::int4 END,
       CASE g % 50 WHEN 0 THEN -9223372036854775808 WHEN 1 THEN 9223372036854775807
                   ELSE ((random() - 0.5) * 1e18)::int8 END,
       (ARRAY['', 'plain', 'a,b', 'say "hi"', E'line\nbreak', E'cr\rhere', '\.', 'NULL', ';semi',
              '''single''', '  spaces ', 'é 薬', 'p|ipe', 't~il|de', NULL])[1 + g % 15],
       (ARRAY['x', 'y,z', '"', NULL, ''])[1 + g % 5],
       (ARRAY['ab', 'a"b', NULL])[1 + g % 3],
       CASE WHEN g % 7 = 0 THEN NULL ELSE round((random() - 0.5)::numeric * 1e6, (g % 5)) END,
       CASE g % 40
           WHEN 0 THEN 'infinity' WHEN 1 THEN '-infinity'
           WHEN 2 THEN timestamptz '4000-01-01 00:00+00 BC' + random() * interval '4000 years'
           WHEN 3 THEN timestamptz '294000-01-01 00:00+00' + random() * interval '200 years'
           WHEN 4 THEN timestamptz '0001-01-01 00:00+00' + random() * interval '2 days'
           WHEN 5 THEN timestamptz '9999-12-30 00:00+00' + random() * interval '3 days'
           WHEN 6 THEN date_trunc('second', timestamptz '1900-01-01+00' + random() * interval '200 years')
           WHEN 7 THEN date_trunc('second', timestamptz '1900-01-01+00' + random() * interval '200 years') + interval '0.5 s'
           WHEN 8 THEN timestamptz '2026-03-01 00:00+00' + g * interval '17 minutes 3 seconds'
           WHEN 9 THEN NULL
           WHEN 10 THEN timestamptz '1800-01-01+00' + random() * interval '150 years'
           ELSE timestamptz '0001-01-01 00:00+00' + random() * interval '9998 years'
       END + CASE WHEN g % 3 = 0 THEN (random() * 1e6)::int * interval '1 microsecond' ELSE interval '0' END,
       date '2000-01-01' + (random() * 20000 - 10000)::int
  FROM generate_series(1, 40000) g;
CREATE TABLE dot (t text);
INSERT INTO dot SELECT (ARRAY['\.', 'x', '', NULL, '\.x'])[1 + g % 5] FROM generate_series(1, 20000) g;
SQL
zones="Asia/Jakarta America/New_York Europe/Berlin UTC Australia/Lord_Howe America/St_Johns Asia/Kolkata Europe/Amsterdam Pacific/Chatham Africa/Monrovia"
same=0 total=0
for tz in $zones; do
    for o in "format csv" "format csv, header true, force_quote *" \
             "format csv, delimiter '';'', null ''NULL'', quote ''|'', escape ''~''"; do
        total=$((total + 1)); k=$(echo "$tz $o" | md5sum | cut -c1-8)
        PGOPTIONS="$PGOPTIONS -c TimeZone=$tz" export_n "s/p0.$k.csv" "$o, compression zstd, parallel_workers 0" "TABLE prop" >/dev/null
        PGOPTIONS="$PGOPTIONS -c TimeZone=$tz" export_n "s/p2.$k.csv" "$o, compression zstd, parallel_workers 2" "TABLE prop" >/dev/null
        if [ "$(plain "s/p0.$k.csv" | sha256sum)" = "$(plain "s/p2.$k.csv" | sha256sum)" ]; then
            same=$((same + 1))
        else
            echo "# differs: TimeZone $tz, $o"
            diff <(plain "s/p0.$k.csv") <(plain "s/p2.$k.csv") | head -n 6 | sed 's/^/#   /'
        fi
    done
done
bk_check "random values, $total exports (zones x CSV options): the workers' CSV is COPY's, byte for byte" "$total" "$same"
bk_check "mekatek.backup_fast_csv off (COPY in the workers): the same bytes" "$(plain "s/p0.$k.csv" | sha256sum)" \
    "$(PGOPTIONS="$PGOPTIONS -c TimeZone=$tz -c mekatek.backup_fast_csv=off" export_n "s/p3.$k.csv" "$o, compression zstd, parallel_workers 2" "TABLE prop" >/dev/null
       plain "s/p3.$k.csv" | sha256sum)"
for ds in SQL,DMY German ISO,MDY; do
    PGOPTIONS="$PGOPTIONS -c DateStyle=$ds" export_n s/ds0.csv "format csv, parallel_workers 0" "SELECT ts, d FROM prop" >/dev/null
    PGOPTIONS="$PGOPTIONS -c DateStyle=$ds" export_n s/ds2.csv "format csv, parallel_workers 2" "SELECT ts, d FROM prop" >/dev/null
    bk_check "DateStyle $ds: the same bytes" "$(plain s/ds0.csv | sha256sum)" "$(plain s/ds2.csv | sha256sum)"
done
for o in "format csv" "format csv, header true" "format csv, force_quote (t)" "format text"; do
    export_n s/dot0.csv "$o, parallel_workers 0" "TABLE dot" >/dev/null
    export_n s/dot2.csv "$o, parallel_workers 2" "TABLE dot" >/dev/null
    bk_check "one column with '\\.' values, $o: the same bytes" "$(plain s/dot0.csv | sha256sum)" "$(plain s/dot2.csv | sha256sum)"
done

# The caller's snapshot: rows committed after it began are not exported.
fifo=$MK_BUILD/backup_parallel_fifo; rm -f "$fifo"; mkfifo "$fifo"
bk_psql -tA <"$fifo" >"$MK_BUILD/backup_parallel_rr.out" 2>&1 &
rr=$!
exec 7>"$fifo"
echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM sales;" >&7
sleep 1
bk_psql -c "INSERT INTO sales SELECT g, 'NEW', 1, 1, NULL, NULL FROM generate_series(100001, 110000) g"
echo "SELECT rows_uploaded FROM mekatek.s3_export('TABLE sales', 'mekatek-test', 's/rr.csv', 'format csv, compression zstd, parallel_workers 2'); COMMIT;" >&7
exec 7>&-
wait $rr
bk_check "in REPEATABLE READ the workers export the transaction's rows only" "54546 54546" \
    "$(tr '\n' ' ' <"$MK_BUILD/backup_parallel_rr.out" | sed 's/ *$//; s/BEGIN //; s/COMMIT//; s/ *$//')"
bk_check "none of the rows inserted since" 0 "$(plain s/rr.csv | grep -c ',NEW,' || true)"
bk_psql -c "DELETE FROM sales WHERE sku = 'NEW'" -c "VACUUM sales"

# A worker's ERROR reaches the caller with its SQLSTATE; nothing stays open.
err=$(bk_psql -tA -c "SET mekatek.backup_parallel_chunk = 8" \
      -c "SELECT rows_uploaded FROM mekatek.s3_export('SELECT sale_id / (sale_id - 50000) FROM sales', 'mekatek-test', 's/err.csv', 'format csv, parallel_workers 2, part_size ''5MB''')" 2>&1 || true)
bk_check "a worker's division by zero is the caller's ERROR" t "$([[ $err == *"division by zero"* ]] && echo t || echo f)"
bk_check "no object, no multipart upload left" "0 0" \
    "$( [ -e "$(obj s/err.csv)" ] && echo 1 || echo 0) $(find "$STORE" -path '*multipart*' -newer "$KEYS" 2>/dev/null | grep -c err || true)"
bk_check "a cancel (statement_timeout) stops leader and workers" 57014 \
    "$(bk_psql -tA -v ON_ERROR_STOP=0 -c "SET statement_timeout = '300ms'" \
        -c "\\set VERBOSITY sqlstate" \
        -c "SELECT rows_uploaded FROM mekatek.s3_export('SELECT sale_id, pg_sleep(0.001) FROM sales', 'mekatek-test', 's/cancel.csv', 'format csv, parallel_workers 2')" 2>&1 | grep -o '57014' | head -n 1)"
sleep 1
bk_check "no parallel worker outlives the cancel" 0 "$(workers_seen)"

# Not one plain table: the backend's own path, the same rows.
for q in "SELECT sku, count(*) FROM sales GROUP BY sku" "SELECT * FROM sales ORDER BY sale_id LIMIT 100" \
         "SELECT s.sale_id FROM sales s JOIN sales t USING (sale_id) WHERE s.qty = 3" \
         "SELECT sale_id FROM sales WHERE qty IN (SELECT 3)"; do
    bk_check "backend path: $q" "$(bk_psql -tA -c "SELECT count(*) FROM ($q) x")" \
        "$(export_n s/other.csv "format csv, parallel_workers 2" "${q//\'/\'\'}")"
done
bk_check "binary COPY stays in the backend and restores" 54546 \
    "$(export_n s/bin.dat "format binary, compression zstd, parallel_workers 2")"
bk_check "a small table (one range) goes without workers" 3 \
    "$(bk_psql -tA -c "CREATE TABLE tiny AS SELECT 1 a UNION ALL SELECT 2 UNION ALL SELECT 3" \
        -c "SELECT rows_uploaded FROM mekatek.s3_export('TABLE tiny', 'mekatek-test', 's/tiny.csv', 'format csv, parallel_workers 2')" | tail -n 1)"
bk_check "parallel_workers out of range" 22023 \
    "$(bk_psql -tA -v ON_ERROR_STOP=0 -c "\\set VERBOSITY sqlstate" \
        -c "SELECT mekatek.s3_export('TABLE sales', 'mekatek-test', 's/x.csv', 'parallel_workers 99')" 2>&1 | grep -o '22023' | head -n 1)"

# backup_run: a set exported by workers restores in place, in one transaction.
bk_psql <<'SQL'
UPDATE mekatek.backup_config SET bucket = 'mekatek-test', compression_workers = 0;
INSERT INTO mekatek.backup_target (name, table_name, compression) VALUES ('sales', 'sales', 'zstd');
SQL
bk_psql -c "CALL mekatek.backup_run()" 2>&1 | grep -v '^$' | sed 's/^/# /' || true
bk_check "backup_run's object by workers: uploaded with every row" "uploaded 54546" \
    "$(bk_psql -tA -F' ' -c "SELECT status, rows FROM mekatek.backup_object ORDER BY object_id DESC LIMIT 1")"
bk_check "a second run of the unchanged table is a duplicate (same bytes)" duplicate \
    "$(bk_psql -c "CALL mekatek.backup_run()" >/dev/null 2>&1; bk_psql -tA -c "SELECT status FROM mekatek.backup_object ORDER BY object_id DESC LIMIT 1")"

psql -Xq -d postgres -c "DROP DATABASE $DB"
[ "$bk_fails" = 0 ] || { echo "$bk_fails checks failed"; exit 1; }
echo "parallel exports: same bytes as the backend's, snapshot, errors and cancel"
