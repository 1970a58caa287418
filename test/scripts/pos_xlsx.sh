#!/usr/bin/env bash
# report_xlsx read back by a real reader (Debian's python3-openpyxl): the
# sheet names, the header rows, every cell and the Total rows equal the
# SQL reports they come from.
set -euo pipefail
db=mekatek_pos_xlsx
# Debian's python3-openpyxl lives in the system python (a pyenv or venv
# python first on PATH does not see it).
py=
for p in /usr/bin/python3 python3; do
    if "$p" -c 'import openpyxl' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "skipped: python3-openpyxl is not installed"; exit 77; }
psql -Xq -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export PGDATABASE=$db
psql -Xq -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION mekatek;
INSERT INTO mekatek.branch (name, time_zone) VALUES ('Yogyakarta', 'Asia/Jakarta'), ('Makassar', 'Asia/Makassar');
INSERT INTO mekatek.product (sku, name, price, drug_class) VALUES
    ('PCT500', 'Paracetamol 500 mg', 5000, 'bebas'), ('DZP5', 'Diazepam 5 mg', 2500, 'psikotropika'),
    ('ORS200', 'Oralit', 2500, 'bebas');
SELECT mekatek.receive_stock('PCT500', 'P1', current_date + 300, 100, 3000, 1),
       mekatek.receive_stock('PCT500', 'P2', current_date + 30, 40, 3100, 2),
       mekatek.receive_stock('DZP5', 'D1', current_date + 300, 50, 1200, 1),
       mekatek.receive_stock('ORS200', 'O1', current_date + 200, 10, NULL, 1);
SELECT mekatek.transfer_stock(1, 2, 'DZP5', 5);
SELECT mekatek.checkout(1 + g % 2, jsonb_build_array(jsonb_build_object('sku', 'PCT500', 'qty', 1 + g % 3)))
  FROM generate_series(1, 12) g;
SELECT mekatek.checkout(1, '[{"sku": "DZP5", "qty": 2, "prescriber": "dr. A", "prescription_no": "R-1", "prescription_date": "2025-11-01"}, {"sku": "ORS200", "qty": 3}]');
SQL
out=$MK_BUILD/pos_xlsx
mkdir -p "$out"
psql -XAt -v ON_ERROR_STOP=1 -c "SELECT encode(mekatek.report_xlsx('all', current_date - 40, current_date + 1), 'base64')" \
    | base64 -d >"$out/all.xlsx"
for r in sales margin stock controlled; do
    case $r in
        sales) q="SELECT * FROM mekatek.sales_report(current_date - 40, current_date + 1, 'day')" ;;
        margin) q="SELECT * FROM mekatek.margin_report(current_date - 40, current_date + 1, 'month')" ;;
        stock) q="SELECT * FROM mekatek.stock_value()" ;;
        controlled) q="SELECT r.* FROM generate_series(date_trunc('month', (current_date - 40)::timestamp), (current_date + 1)::timestamp, interval '1 month') m, LATERAL mekatek.controlled_register(m::date) r" ;;
    esac
    psql -XA -F $'\t' -P footer=off -v ON_ERROR_STOP=1 -c "$q" >"$out/$r.tsv"
done
# one report alone is one sheet; a bad name is an error
psql -XAt -c "SELECT encode(mekatek.report_xlsx('stock', current_date, current_date, 2), 'base64')" | base64 -d >"$out/stock2.xlsx"
"$py" - "$out" <<'PY'
import sys, re, datetime, decimal, openpyxl
out = sys.argv[1]
wb = openpyxl.load_workbook(out + '/all.xlsx')
names = ['Sales', 'Margin', 'Stock', 'Controlled drugs']
assert wb.sheetnames == names, wb.sheetnames
checked = 0
for sheet, tsv in zip(names, ['sales', 'margin', 'stock', 'controlled']):
    ws = wb[sheet]
    lines = open(f'{out}/{tsv}.tsv').read().splitlines()
    header, rows = lines[0].split('\t'), [l.split('\t') for l in lines[1:]]
    got = [[c.value for c in r] for r in ws.iter_rows()]
    assert got[0] == header, (sheet, got[0], header)
    assert len(rows) > 0, sheet
    body = got[1:1 + len(rows)]
    assert len(body) == len(rows), (sheet, len(body), len(rows))
    sums = [decimal.Decimal(0)] * len(header)
    for r, (want, have) in enumerate(zip(rows, body)):
        for i, (w, h) in enumerate(zip(want, have)):
            if w == '':
                assert h is None, (sheet, header[i], h)
                continue
            # dates are Excel dates and numbers are numbers, never text
            if re.fullmatch(r'\d{4}-\d\d-\d\d', w):
                assert isinstance(h, datetime.datetime), (sheet, header[i], h)
            elif re.fullmatch(r'-?\d+(\.\d+)?', w) and header[i] not in ('sku', 'name', 'lot'):
                assert isinstance(h, (int, float)), (sheet, header[i], h)
            if isinstance(h, datetime.datetime):
                assert h.date().isoformat() == w, (sheet, header[i], h, w)
            elif isinstance(h, (int, float)):
                assert decimal.Decimal(str(h)) == decimal.Decimal(w), (sheet, header[i], h, w)
                sums[i] += decimal.Decimal(w)
                cell_fmt = ws.cell(row=r + 2, column=i + 1).number_format
                if header[i] in ('revenue', 'cost', 'margin', 'value'):
                    assert 'Rp' in cell_fmt, (sheet, header[i], cell_fmt)
            else:
                assert str(h) == w, (sheet, header[i], h, w)
            checked += 1
    if sheet != 'Controlled drugs':
        total = got[1 + len(rows)]
        assert total[0] == 'Total', (sheet, total)
        for i, h in enumerate(header):
            if i > 0 and isinstance(total[i], (int, float)):
                assert decimal.Decimal(str(total[i])) == sums[i], (sheet, h, total[i], sums[i])
    else:
        assert len(got) == 1 + len(rows), (sheet, 'no total row')
one = openpyxl.load_workbook(out + '/stock2.xlsx')
assert one.sheetnames == ['Stock'], one.sheetnames
print(f'ok: {len(names)} sheets, {checked} cells and the Total rows equal the SQL reports (openpyxl {openpyxl.__version__})')
PY
if psql -XAt -c "SELECT mekatek.report_xlsx('pdf', current_date, current_date)" >/dev/null 2>"$out/bad.err"; then
    echo "FAIL: report_xlsx('pdf') did not fail"; exit 1
fi
grep -q 'report must be sales, margin, stock, controlled or all' "$out/bad.err" || { cat "$out/bad.err"; exit 1; }
echo "ok: an unknown report is refused"
psql -Xq -d postgres -c "DROP DATABASE $db"
