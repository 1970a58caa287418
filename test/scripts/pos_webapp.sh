#!/usr/bin/env bash
# A web app through PgBouncer (issue 15, item 7): Debian's pgbouncer in
# transaction pooling mode on loopback (MK_TEST_PORT+7), one app login
# (`webapp`, NOINHERIT, a member of two cashier logins), and a PHP script
# (php-cli, PDO pgsql: test/scripts/pos_webapp.php) that acts for the two
# cashiers in alternating transactions with SET LOCAL ROLE.  Its output is
# compared with the expected text below, then the database: every sale's
# cashier is the real cashier, each at its own branch, one sale for the
# retried key, no sale left by the refused checkout.
source "$(dirname "$0")/../harness/common.sh"
# not grep -q: under pipefail, php killed by SIGPIPE after an early match would read as "missing"
command -v php >/dev/null && php -m | grep -i pdo_pgsql >/dev/null || { echo "skipped: php-cli with pdo_pgsql is not installed"; exit 77; }
pgb=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$pgb" ] || { echo "skipped: pgbouncer is not installed"; exit 77; }

db=mekatek_webapp
work=$MK_BUILD/pos_webapp
port=$(mk_port pgbouncer)
rm -rf "$work"; mkdir -p "$work"
psql -Xq -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
for r in webapp regress_web_sari regress_web_joko; do psql -Xq -d postgres -c "DROP ROLE IF EXISTS $r"; done
psql -Xq -d "$db" -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION mekatek;
CREATE ROLE regress_web_sari LOGIN IN ROLE mekatek_cashier;
CREATE ROLE regress_web_joko LOGIN IN ROLE mekatek_cashier;
-- The app's one login: no rights of its own (NOINHERIT), it may only
-- become one of its cashiers.
CREATE ROLE webapp LOGIN NOINHERIT;
GRANT regress_web_sari, regress_web_joko TO webapp;
INSERT INTO mekatek.branch (name) VALUES ('Apotek Web Pusat'), ('Apotek Web Sleman');
INSERT INTO mekatek.staff (role_name, full_name, branch_id) VALUES
    ('regress_web_sari', 'Sari Dewi', 1), ('regress_web_joko', 'Joko Santoso', 2);
INSERT INTO mekatek.product (sku, name, price) VALUES
    ('PCT500', 'Paracetamol 500 mg', 5000), ('AMX500', 'Amoxicillin 500 mg', 12000);
-- stock is per branch: each branch receives its own lots
SELECT mekatek.receive_stock('PCT500', 'P-1', '2031-01-31', 100, NULL, 1), mekatek.receive_stock('AMX500', 'A-1', '2031-02-28', 100, NULL, 1);
SELECT mekatek.receive_stock('PCT500', 'P-2', '2031-01-31', 100, NULL, 2), mekatek.receive_stock('AMX500', 'A-2', '2031-02-28', 100, NULL, 2);
SQL

# PgBouncer: transaction pooling, at most 2 server connections, so the
# five transactions of the script share them; it reaches the server over
# its socket, as the app login, with the cluster's trust authentication.
cat > "$work/pgbouncer.ini" <<INI
[databases]
$db = host=$PGHOST port=$PGPORT dbname=$db
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $work/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 20
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
echo '"webapp" ""' > "$work/userlist.txt"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
mk_as_pg "$pgb" -d "$work/pgbouncer.ini" >/dev/null
trap 'kill "$(cat "$work/pgbouncer.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

php "$(dirname "$0")/pos_webapp.php" 127.0.0.1 "$port" "$db" >"$work/out.txt" 2>&1 || { cat "$work/out.txt"; echo "FAIL: the PHP script failed"; exit 1; }
cat > "$work/expected.txt" <<'OUT'
regress_web_sari at branch 1: sale 1, receipt 01-YYYYMMDD-000001, cashier regress_web_sari, total 10000, change 10000
regress_web_joko at branch 2: sale 2, receipt 02-YYYYMMDD-000001, cashier regress_web_joko, total 12000, change 0
regress_web_sari at branch 1: sale 3, receipt 01-YYYYMMDD-000002, cashier regress_web_sari, total 17000, change 33000
regress_web_joko at branch 2: insufficient stock (SQLSTATE 23M01): sku PCT500, asked 500, available 100
regress_web_sari at branch 1: sale 1, receipt 01-YYYYMMDD-000001, cashier regress_web_sari, total 10000, change 10000
webapp without SET LOCAL ROLE: SQLSTATE 42501: permission denied for schema mekatek
        Apotek Web Pusat
No            01-YYYYMMDD-000002
Tanggal         DD-MM-YYYY hh:mm
Kasir                  Sari Dewi
--------------------------------
Amoxicillin 500 mg
  1 x Rp 12.000        Rp 12.000
  Lot A-1 ED 02/2031
Paracetamol 500 mg
  1 x Rp 5.000          Rp 5.000
  Lot P-1 ED 01/2031
--------------------------------
Subtotal               Rp 17.000
DPP                    Rp 15.316
PPN 11%                 Rp 1.684
TOTAL                  Rp 17.000
(harga sudah termasuk PPN)
Tunai                  Rp 50.000
Kembali                Rp 33.000
--------------------------------
          Terima kasih
joko asks for sale 1: SQLSTATE 23503
OUT
if ! diff -u "$work/expected.txt" "$work/out.txt"; then echo "FAIL: the web app's output differs"; exit 1; fi

# The database agrees: the real cashiers, their branches, one sale per key.
check=$(psql -XAt -d "$db" <<'SQL'
SELECT string_agg(format('%s:%s:%s:%s', sale_id, branch_id, cashier, idempotency_key), ' ' ORDER BY sale_id) FROM mekatek.sale;
SELECT string_agg(DISTINCT actor, ',') FROM mekatek.stock_movement WHERE reason = 'sale';
SELECT count(*) FROM mekatek.payment;
SQL
)
want="1:1:regress_web_sari:sari-1 2:2:regress_web_joko:joko-1 3:1:regress_web_sari:sari-2
regress_web_joko,regress_web_sari
3"
if [ "$check" != "$want" ]; then printf 'FAIL: database state\n got: %s\nwant: %s\n' "$check" "$want"; exit 1; fi
echo "ok: two cashiers through one pooled login, SET LOCAL ROLE, 23M01 caught with its DETAIL, receipts printed"
