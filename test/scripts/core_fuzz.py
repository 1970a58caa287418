"""core_fuzz.py: call every function and procedure of schema mekatek with
edge values, as a superuser and as the least privileged role that may
execute it (driven by core_fuzz.sh, which starts the server).

The functions come from pg_proc, so a new function is covered without
editing this file.  Each argument type gets a list of edge values (NULL,
empty, zero, negative, huge, NaN, +/-infinity, malformed text, 1 MB text,
100,000-element arrays, arrays with NULLs); the calls are each value of
each argument once with the other arguments at a plain value, plus random
combinations, sampled with a fixed seed down to a budget per function
(MK_FUZZ_LONG=1: no sampling, more combinations).  Every call runs in its
own transaction with a statement_timeout and is rolled back.

It fails on a backend crash (the connection lost, or the server log's
"terminated by signal"), on SQLSTATE XX000, on a call that outlives its
timeout by more than MK_FUZZ_GRACE seconds (not cancellable), and on a
backend whose peak private memory passes MK_FUZZ_MEM_MB.
"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
import pq  # noqa: E402

LONG = os.environ.get("MK_FUZZ_LONG", "0") == "1"
SEED = int(os.environ.get("MK_FUZZ_SEED", "14"))
BUDGET = int(os.environ.get("MK_FUZZ_CALLS", "0")) or (10**6 if LONG else 48)
RANDOM_COMBOS = 200 if LONG else 10
TIMEOUT_MS = int(os.environ.get("MK_FUZZ_TIMEOUT_MS", "3000" if LONG else "1500"))
GRACE_S = float(os.environ.get("MK_FUZZ_GRACE", "10"))
MEM_MB = int(os.environ.get("MK_FUZZ_MEM_MB", "1024"))
DSN = os.environ.get("MK_FUZZ_DSN", "")
FILTER = os.environ.get("MK_FUZZ_FILTER", "")

# Least privileged first: the first of these that may execute a function
# is the one it is called as (fuzz_nobody holds no Mekatek role).
# SQLSTATE classes worth a look even when they pass: resources, limits,
# cancels, lost connections (an S3 request to the closed port is 08006).
WATCH = ("53", "54", "57", "08")

ROLES = ["fuzz_nobody", "mekatek_device", "mekatek_bot", "mekatek_outbox",
         "mekatek_cashier", "mekatek_analyst", "mekatek_admin"]

MB = "a" * (1024 * 1024)
BIG_INT_ARRAY = "{" + ",".join(str(i) for i in range(100000)) + "}"
BIG_TEXT_ARRAY = "{" + ",".join("i%d" % (i % 977) for i in range(100000)) + "}"
DEEP_JSON = "[" * 5000 + "]" * 5000
BIG_JSON_ARRAY = "[" + ",".join('["i%d","i%d"]' % (i % 97, i % 89) for i in range(100000)) + "]"

TEXT_VALUES = [None, "", "x", "SKU1", "d1", "  ", "%%s%n", "'; SELECT 1; --", "../../etc/passwd",
               "\\", "NaN", "-1", "0", "obat batuk \u2014 \u85ac", "\U0001F600" * 10, "a\tb\nc",
               "SELECT 1", "SELECT * FROM pg_catalog.pg_authid", "x" * 65, "x" * 10000, MB]
NUMBER_SPECIAL = ["NaN", "Infinity", "-Infinity"]
VALUES = {
    "smallint": [None, "0", "1", "-1", "32767", "-32768"],
    "integer": [None, "0", "1", "-1", "2", "100000", "2147483647", "-2147483648"],
    "bigint": [None, "0", "1", "-1", "2", "9223372036854775807", "-9223372036854775808"],
    "numeric": [None, "0", "1", "-1", "0.5", "1e300", "-1e300", "1e-300"] + NUMBER_SPECIAL,
    "real": [None, "0", "1", "-1", "0.5", "3.4e38", "1e-45"] + NUMBER_SPECIAL,
    "double precision": [None, "0", "1", "-1", "0.5", "1.7e308", "-1.7e308", "5e-324"] + NUMBER_SPECIAL,
    "boolean": [None, "true", "false"],
    "text": TEXT_VALUES,
    "character varying": TEXT_VALUES,
    "name": [None, "", "x", "postgres", "mekatek_admin", "x" * 63],
    "bytea": [None, "", "\\x00", "\\xdeadbeef", "\\x" + "ab" * 500000],
    "date": [None, "2026-12-01", "infinity", "-infinity", "1970-01-01", "2099-12-31",
             "4713-01-01 BC", "5874897-12-31"],
    "timestamp with time zone": [None, "2026-12-01 10:00+07", "infinity", "-infinity", "epoch",
                                 "2099-12-31 23:59:59+00", "4713-01-01 00:00+00 BC", "294276-12-31 23:59:59+00"],
    "timestamp without time zone": [None, "2026-12-01 10:00", "infinity", "-infinity", "epoch",
                                    "2099-12-31 23:59:59", "294276-12-31 23:59:59"],
    "time without time zone": [None, "00:00", "23:59:59.999999", "24:00"],
    "interval": [None, "0", "1 minute", "-1 day", "1 second", "178000000 years", "-178000000 years",
                 "00:00:00.000001"],
    "jsonb": [None, "{}", "[]", "null", "0", '""', '"x"', "[[]]", "[null]", '[["a"]]', '{"a": 1}',
              '[["a", "b"], ["c"]]', '{"sku": "SKU1", "qty": 1}', '[{"sku": "SKU1", "qty": 1}]',
              '[{"sku": "SKU1", "qty": -1}]', '[{"sku": null, "qty": 1e300}]', DEEP_JSON, BIG_JSON_ARRAY],
    "json": [None, "{}", "[]", "null", "[[]]", '{"a": [1, null]}'],
    "inet": [None, "0.0.0.0", "255.255.255.255", "::", "::ffff:1.2.3.4", "10.0.0.0/8"],
    "cidr": [None, "0.0.0.0/0", "::/0", "192.0.2.0/24", "255.255.255.255/32"],
    "int4range": [None, "empty", "[0,65535]", "[1,)", "(,)", "[22,22]", "[-1,70000]"],
    "int8range": [None, "empty", "(,)", "[0,1)"],
    "tstzrange": [None, "empty", "(,)", "[2026-01-01,2026-01-02)", "[-infinity,infinity]"],
    "daterange": [None, "empty", "(,)", "[2026-01-01,2026-01-02)"],
    "uuid": [None, "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"],
    "oid": [None, "0", "1", "4294967295"],
    "regclass": [None, "pg_class", "pg_authid", "mekatek.backup_target", "mekatek.sale"],
    "regproc": [None, "now", "pg_sleep"],
    "point": [None, "(0,0)", "(180,90)", "(NaN,NaN)", "(1e308,-1e308)", "(Infinity,0)"],
    "character": [None, "", "x"],
    "money": [None, "0", "-1"],
}
ELEMENT_ARRAYS = {
    "integer": ["{1,2,3}", "{1,NULL,3}", BIG_INT_ARRAY, "{{1,2},{3,4}}", "[5:6]={1,2}"],
    "bigint": ["{1,2,3}", "{1,NULL,3}", BIG_INT_ARRAY, "{{1,2},{3,4}}"],
    "smallint": ["{1,2,3}", "{1,NULL}"],
    "double precision": ["{1,2,3}", "{NaN,Infinity,-Infinity}", "{1,NULL}", BIG_INT_ARRAY, "{{1,2},{3,4}}"],
    "real": ["{1,2}", "{NaN,NULL}"],
    "numeric": ["{1,2.5}", "{NaN,NULL}", BIG_INT_ARRAY],
    "text": ["{a,b}", "{a,NULL,b}", "{NULL}", '{""}', BIG_TEXT_ARRAY, "{{a,b},{c,d}}", "{a,a,a}"],
    "boolean": ["{t,f}", "{NULL}"],
    "jsonb": ['{"{}","[]"}', "{NULL}"],
    "timestamp with time zone": ["{2026-01-01,infinity}", "{NULL}"],
}


def values_for(typ, elem=None):
    """Edge values of a type, by its format_type name."""
    if typ.endswith("[]"):
        base = typ[:-2]
        arrays = ELEMENT_ARRAYS.get(base, ["{NULL}"])
        return [None, "{}"] + arrays
    if typ in VALUES:
        return VALUES[typ]
    if typ.startswith("character varying") or typ.startswith("character("):
        return TEXT_VALUES
    if typ.startswith("numeric("):
        return VALUES["numeric"]
    return [None]


def polymorphic(types):
    """Concrete types for anyarray/anyelement/anycompatible* arguments."""
    out = []
    for t in types:
        if t in ("anyarray", "anycompatiblearray", "anynonarray[]"):
            out.append("text[]")
        elif t in ("anyelement", "anycompatible", "anynonarray"):
            out.append("text")
        elif t == "anyrange":
            out.append("int4range")
        elif t == "\"any\"":
            out.append("text")
        else:
            out.append(t)
    return out


def plan_calls(rnd, types):
    """Each edge value of each argument once (the others plain), plus random
    combinations, sampled down to BUDGET (the all-plain call first)."""
    vals = [values_for(t) for t in types]
    plain = [next((v for v in vs[1:] if v is not None and len(v) < 1000), vs[0]) for vs in vals]
    calls = [tuple(plain)]
    for i, vs in enumerate(vals):
        for v in vs:
            c = list(plain)
            c[i] = v
            calls.append(tuple(c))
    for _ in range(RANDOM_COMBOS):
        calls.append(tuple(rnd.choice(vs) for vs in vals))
    seen, uniq = set(), []
    for c in calls:
        key = tuple(None if v is None else hash(v) for v in c)
        if key not in seen:
            seen.add(key)
            uniq.append(c)
    if len(uniq) > BUDGET:
        uniq = [uniq[0]] + rnd.sample(uniq[1:], BUDGET - 1)
    return uniq


def private_kb(pid):
    """Peak resident memory of a backend minus its shared memory (kB)."""
    try:
        fields = {}
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                fields[k] = int(v.split()[0]) if v.split() and v.split()[0].isdigit() else 0
        return fields.get("VmHWM", 0) - fields.get("RssShmem", 0) - fields.get("RssFile", 0)
    except OSError:
        return 0


class Fuzz:
    def __init__(self):
        self.calls = {"superuser": 0}
        self.crashes, self.xx000, self.stuck, self.memory, self.other_xx = [], [], [], [], []
        self.states = {}
        self.examples = {}
        self.peak_kb, self.peak_fn = 0, ""
        self.watch = pq.Connection(DSN)

    def connect(self):
        deadline = time.time() + 60
        while True:
            try:
                c = pq.Connection(DSN)
                c.execute("SET client_min_messages = error")
                return c
            except ConnectionError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

    def call(self, conn, fn, sql, args, role):
        """One call in its own transaction; returns the connection to go on with."""
        label = "%s as %s with %s" % (fn, role or "superuser", short(args))
        timer = threading.Timer(TIMEOUT_MS / 1000.0 + GRACE_S, self.terminate, (conn.pid, label))
        timer.start()
        try:
            conn.execute("BEGIN")
            conn.execute("SET LOCAL statement_timeout = %d" % TIMEOUT_MS)
            if role:
                conn.execute("SET LOCAL ROLE %s" % role)
            conn.execute(sql, args)
            state = "00000"
        except pq.Error as e:
            state = e.sqlstate
            if state[:2] in WATCH and len(self.examples.setdefault(state, [])) < 3:
                self.examples[state].append("%s: %s" % (label, e.message[:160]))
            if state == "XX000":
                self.xx000.append("%s: %s" % (label, e.message[:200]))
            elif state.startswith("XX"):
                self.other_xx.append("%s %s: %s" % (state, label, e.message[:200]))
        finally:
            timer.cancel()
        self.states[state] = self.states.get(state, 0) + 1
        if not conn.ok() or state == "":
            self.crashes.append(label)
            conn.close()
            self.wait_for_server()
            return self.connect()
        try:
            conn.execute("ROLLBACK")
        except pq.Error:
            self.crashes.append(label + " (ROLLBACK failed)")
            conn.close()
            self.wait_for_server()
            return self.connect()
        kb = private_kb(conn.pid)
        if kb > self.peak_kb:
            self.peak_kb, self.peak_fn = kb, label
        if kb > MEM_MB * 1024:
            self.memory.append("%s: %d MB" % (label, kb // 1024))
            conn.close()
            return self.connect()
        return conn

    def terminate(self, pid, label):
        self.stuck.append(label)
        try:
            w = pq.Connection(DSN)
            w.execute("SELECT pg_terminate_backend($1)", [str(pid)])
            w.close()
        except Exception:
            pass

    def wait_for_server(self):
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                c = pq.Connection(DSN)
                c.execute("SELECT 1")
                c.close()
                return
            except Exception:
                time.sleep(1)
        raise SystemExit("the server did not come back after a crash")


def short(args):
    out = []
    for a in args:
        if a is None:
            out.append("NULL")
        elif len(a) > 40:
            out.append("%r...(%d bytes)" % (a[:20], len(a)))
        else:
            out.append(repr(a))
    return "(" + ", ".join(out) + ")"


def main():
    rnd = random.Random(SEED)
    f = Fuzz()
    conn = f.connect()
    rows = conn.execute("""
        SELECT p.oid, p.proname, p.prokind,
               coalesce(array_to_json(ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) t)), '[]'),
               format_type(p.prorettype, NULL), p.provariadic <> 0,
               pg_get_function_identity_arguments(p.oid)
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'mekatek'
         ORDER BY p.proname, p.oid""")
    roles = [r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])",
                                        ["{" + ",".join(ROLES) + "}"])]
    order = [r for r in ROLES if r in roles]
    skipped = {}
    functions = 0
    for oid, name, kind, argtypes, rettype, variadic, ident in rows:
        if FILTER and FILTER not in name:
            continue
        types = json.loads(argtypes)
        why = None
        if rettype in ("trigger", "event_trigger"):
            why = "%s function (called by the server on its events only)" % rettype
        elif kind == "w":
            why = "window function"
        elif "internal" in types or rettype == "internal":
            why = "takes or returns internal (an aggregate's support function or type I/O)"
        elif "cstring" in types or rettype == "cstring":
            why = "type I/O (cstring)"
        if why:
            skipped.setdefault(why, []).append("%s(%s)" % (name, ident))
            continue
        types = polymorphic(types)
        functions += 1
        casts = ", ".join("$%d::%s" % (i + 1, t) for i, t in enumerate(types))
        if variadic and types:
            casts = ", ".join("$%d::%s" % (i + 1, t) for i, t in enumerate(types[:-1]))
            casts = (casts + ", " if casts else "") + "VARIADIC $%d::%s" % (len(types), types[-1])
        qname = 'mekatek."%s"' % name
        sql = ("CALL %s(%s)" if kind == "p" else "SELECT %s(%s)") % (qname, casts)
        if kind not in ("p", "a"):
            sql = "SELECT count(*) FROM (SELECT %s(%s)) x" % (qname, casts)
        least = None
        for r in order:
            if conn.execute("SELECT has_function_privilege($1, $2::oid, 'EXECUTE')", [r, str(oid)])[0][0] == "t":
                least = r
                break
        plan = plan_calls(rnd, types)
        conn.close()
        conn = f.connect()  # a fresh backend: its peak memory is this function's
        for args in plan:
            conn = f.call(conn, name, sql, list(args), None)
            f.calls["superuser"] += 1
            if least:
                conn = f.call(conn, name, sql, list(args), least)
                f.calls[least] = f.calls.get(least, 0) + 1
    conn.close()

    total = sum(f.calls.values())
    print("# %d functions and procedures of schema mekatek called, %d calls (%s), seed %d, %s mode"
          % (functions, total, ", ".join("%s %d" % kv for kv in sorted(f.calls.items())), SEED,
             "long" if LONG else "default"))
    for why, names in sorted(skipped.items()):
        print("# skipped %d, %s: %s" % (len(names), why, ", ".join(names)))
    print("# SQLSTATEs: " + ", ".join("%s %d" % kv for kv in sorted(f.states.items())))
    print("# peak private backend memory %d MB (bound %d MB), in %s" % (f.peak_kb // 1024, MEM_MB, f.peak_fn))
    for state, items in sorted(f.examples.items()):
        for x in items:
            print("# %s, e.g. %s" % (state, x))
    for x in f.other_xx:
        print("# note, internal-class SQLSTATE other than XX000: " + x)
    bad = 0
    for title, items in (("backend crash", f.crashes), ("SQLSTATE XX000", f.xx000),
                         ("not cancellable", f.stuck), ("memory above the bound", f.memory)):
        print("%s: %d" % (title, len(items)))
        for x in items:
            print("  " + x)
        bad += len(items)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
