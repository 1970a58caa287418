#!/usr/bin/env bash
# Issue 19 §4 against @20minutes/s3rver (SigV4 checked): zstd, and zstd
# with AES-256-GCM, round trips through s3_export/s3_import and through
# the catalogue (backup_run, backup_restore); the stored object is
# ciphertext with the key id in its header and in the catalogue; a flipped
# byte and a wrong key both fail before anything is written; a rotated key
# file restores old objects and encrypts new ones with the new key; the
# key never reaches a log.
source "$(dirname "$0")/../backup_s3/lib.sh"

bk_port S3RVER
KEY=MEKATEKCRYPTKEY SECRET='cr7pt-S3cret-value-never-shown'
DB=mekatek_backup_crypt
STORE=$MK_BUILD/backup_crypt_s3rver
KEYS=$MK_BUILD/backup_crypt_keys
K1=$(openssl rand -hex 32) K2=$(openssl rand -hex 32) WRONG=$(openssl rand -hex 32)
bk_npm
MK_S3_KEY=$KEY MK_S3_SECRET=$SECRET bk_start_s3rver $S3RVER "$STORE" mekatek-test
obj() { echo "$STORE/mekatek-test/$1._S3rver_object"; }
# keyfile LINES...: the key file as the server's account owns it, mode 0600.
keyfile() {
    printf '%s\n' "# Mekatek backup keys: <key id> <64 hex digits>" "$@" >"$KEYS"
    chmod 600 "$KEYS"
    if [ "$(id -u)" = 0 ]; then chown postgres "$KEYS"; fi
}
keyfile "k1 $K1"
log_start=$(stat -c %s "$MK_BUILD/test/server.log" 2>/dev/null || echo 0)

bk_s3_settings $S3RVER $KEY "$SECRET" "mekatek.backup_key_file=$KEYS"
cleanup() {
    bk_s3_settings_reset
    rm -f "$KEYS"
    bk_stop
}
trap cleanup EXIT
sleep 1

psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
export PGDATABASE=$DB
bk_psql <<'SQL'
CREATE EXTENSION mekatek;
CREATE TABLE sales (sale_id bigint PRIMARY KEY, sku text NOT NULL, qty int NOT NULL,
                    price numeric(12, 2) NOT NULL, note text);
INSERT INTO sales SELECT g, 'SKU-' || (g % 5000), 1 + g % 7, round((g % 100000) / 7.0, 2),
                         CASE g % 4 WHEN 0 THEN NULL WHEN 1 THEN 'a, "quoted" note' WHEN 2 THEN E'two\nlines' ELSE 'obat batuk — 薬' END
  FROM generate_series(1, 300000) g;
CREATE TABLE sales_copy (LIKE sales INCLUDING ALL);
SQL
same() { bk_psql -tA -c "SELECT (SELECT count(*) FROM (TABLE sales EXCEPT TABLE $1) a) + (SELECT count(*) FROM (TABLE $1 EXCEPT TABLE sales) b)"; }

# 1. zstd alone: a standard zstd frame (the zstd tool reads it), round trip.
bk_check "s3_export with zstd and two worker threads" 300000 \
    "$(bk_psql -tA -c "SELECT rows_uploaded FROM mekatek.s3_export('TABLE sales', 'mekatek-test', 'x/sales.csv.zst', 'format csv, header true, compression zstd, compression_workers 2')")"
bk_check "the object is a zstd frame the zstd tool reads" "sale_id,sku,qty,price,note" \
    "$(zstd -dc <"$(obj x/sales.csv.zst)" | head -n 1)"
bk_check "s3_import recognises zstd" 0 \
    "$(bk_psql -tA -c "SELECT mekatek.s3_import('sales_copy', '', 'format csv, header true', 'mekatek-test', 'x/sales.csv.zst')" >/dev/null && same sales_copy)"

# 2. zstd + AES-256-GCM through s3_export/s3_import.
bk_psql -tA -c "TRUNCATE sales_copy" \
    -c "SELECT rows_uploaded FROM mekatek.s3_export('TABLE sales', 'mekatek-test', 'x/sales.csv.zst.mke', 'format csv, header true, compression zstd, compression_workers 2, encryption_key_id k1')" >/dev/null
bk_check "the stored object starts with MKE1 and the key id" "MKE1k1" \
    "$(head -c 7 "$(obj x/sales.csv.zst.mke)" | tr -d '\002')"
bk_check "and holds no plaintext" 0 "$(grep -ac 'SKU-' "$(obj x/sales.csv.zst.mke)" || true)"
bk_check "nor a zstd frame" fail "$(zstd -tq <"$(obj x/sales.csv.zst.mke)" 2>/dev/null && echo ok || echo fail)"
bk_check "s3_import decrypts (tag checked first) and decompresses" 0 \
    "$(bk_psql -tA -c "SELECT mekatek.s3_import('sales_copy', '', 'format csv, header true', 'mekatek-test', 'x/sales.csv.zst.mke')" >/dev/null && same sales_copy)"

# 3. A flipped byte: s3_import (no catalogue) fails on the tag, writes nothing.
cp "$(obj x/sales.csv.zst.mke)" "$MK_BUILD/backup_crypt_saved"
bk_flip "$(obj x/sales.csv.zst.mke)" 5000
out=$(bk_psql -c "\\set VERBOSITY verbose" -c "SELECT mekatek.s3_import('sales_copy', '', 'format csv, header true', 'mekatek-test', 'x/sales.csv.zst.mke')" 2>&1 || true)
bk_check "a flipped byte fails authentication (XX001)" 1 \
    "$(grep -c 'ERROR:  XX001: encrypted object "mekatek-test/x/sales.csv.zst.mke" fails authentication with key "k1"' <<<"$out")"
bk_check "and nothing was written" 300000 "$(bk_psql -tA -c "SELECT count(*) FROM sales_copy")"
cp "$MK_BUILD/backup_crypt_saved" "$(obj x/sales.csv.zst.mke)"

# 4. The catalogue: a zstd target, client-side encryption on.
bk_psql <<'SQL'
UPDATE mekatek.backup_config SET bucket = 'mekatek-test', prefix = 'crypt', client_side_encryption = true;
INSERT INTO mekatek.backup_target (name, table_name, compression) VALUES ('sales', 'sales', 'zstd');
SQL
r=$(bk_psql -tA -c "SELECT status, key_id, key ~ '/sales/daily/[0-9]{8}T[0-9]{6}\.[0-9]{3}_[0-9]{8}T[0-9]{6}Z\.csv\.zst\.mke$' FROM mekatek.backup_run_target('sales', 'daily')")
bk_check "backup_run_target: encrypted zstd object, key id catalogued" "uploaded|k1|t" "$r"
key=$(bk_psql -tA -c "SELECT key FROM mekatek.backup_object WHERE object_id = 1")
bk_check "backup_verify" t "$(bk_psql -tA -c "SELECT mekatek.backup_verify(1)")"
bk_check "backup_restore into an empty copy" 300000 \
    "$(bk_psql -tA -c "TRUNCATE sales_copy" -c "SELECT mekatek.backup_restore(1, 'sales_copy')")"
bk_check "EXCEPT both ways is empty" 0 "$(same sales_copy)"
bk_check "an encrypted export is never a duplicate (fresh IV): stored again" "uploaded" \
    "$(bk_psql -tA -c "SELECT status FROM mekatek.backup_run_target('sales', 'daily')")"

# 5. A wrong key under the same id: the tag fails before the table is emptied.
keyfile "k1 $WRONG"
out=$(bk_psql -c "\\set VERBOSITY verbose" -c "SELECT mekatek.backup_restore(1)" 2>&1 || true)
bk_check "a wrong key fails authentication (XX001)" 1 \
    "$(grep -c "ERROR:  XX001: encrypted object \"mekatek-test/$key\" fails authentication with key \"k1\"" <<<"$out")"
bk_check "and the original table is untouched" 300000 "$(bk_psql -tA -c "SELECT count(*) FROM sales")"
keyfile "k2 $K2"
out=$(bk_psql -c "\\set VERBOSITY verbose" -c "SELECT mekatek.backup_restore(1)" 2>&1 || true)
bk_check "a key missing from the file: 42704, nothing written" "1|300000" \
    "$(grep -c 'ERROR:  42704: backup key "k1" is not in the key file nor in MEKATEK_BACKUP_KEY' <<<"$out")|$(bk_psql -tA -c "SELECT count(*) FROM sales")"

# 6. Rotation: the new key first, the old one kept for old objects.
keyfile "k2 $K2" "k1 $K1"
bk_check "new backups use the first key" "k2" "$(bk_psql -tA -c "SELECT mekatek.backup_key_id()")"
bk_check "a new object is encrypted with k2" "uploaded|k2" \
    "$(bk_psql -tA -c "SELECT status, key_id FROM mekatek.backup_run_target('sales', 'weekly')")"
bk_check "the k1 object still restores (in place)" 300000 "$(bk_psql -tA -c "SELECT mekatek.backup_restore(1)")"
bk_check "and the k2 one" 300000 "$(bk_psql -tA -c "SELECT mekatek.backup_restore(max(object_id), 'sales_copy') FROM mekatek.backup_object")"
bk_check "restored in place equals the original" 0 "$(same sales_copy)"

# 7. The key file must be private; the keys are in no log and no table.
chmod 640 "$KEYS"
bk_check "a group-readable key file is refused (42501)" 1 \
    "$(bk_psql -c "\\set VERBOSITY verbose" -c "SELECT mekatek.backup_key_id()" 2>&1 | grep -c 'ERROR:  42501: backup key file ".*" is readable by group or others')"
chmod 600 "$KEYS"
bk_check "mekatek_cashier cannot ask for the key id" 1 \
    "$(bk_psql -c "SET ROLE mekatek_cashier" -c "SELECT mekatek.backup_key_id()" 2>&1 | grep -c 'permission denied for function backup_key_id')"
bk_check "no key in the server log" 0 \
    "$(tail -c +$((log_start + 1)) "$MK_BUILD/test/server.log" 2>/dev/null | grep -c -e "$K1" -e "$K2" -e "$WRONG" || true)"
bk_check "no key in the catalogue" 0 \
    "$(bk_psql -tA -c "SELECT count(*) FROM mekatek.backup_object o WHERE o::text ~ '$K1|$K2'")"

psql -Xq -d postgres -c "DROP DATABASE $DB"
[ "$bk_fails" = 0 ] || { echo "$bk_fails checks failed"; exit 1; }
echo "zstd and AES-256-GCM round trip; damage and wrong keys fail before writing; rotation works"
