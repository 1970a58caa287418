/*
 * alert.c: threat alerts from the log (issue 17 section 5).
 *
 * mekatek.fw_log_alert_trg runs after every statement that inserts into
 * mekatek.fw_log (fw_load, fw_load_file, fw_load_raw, a plain INSERT): it
 * looks at the statement's new rows (the transition table), with the log
 * rows of earlier statements in the window before the first new one (logs
 * are loaded in time order; an earlier load's rows that interleave with
 * the new ones in time are not looked at again), and finds
 *
 *   port_scan    one source, one destination, many destination ports
 *   host_scan    one source, many destinations
 *   brute_force  one source, many new connections (TCP SYN without ACK)
 *                to one service port of mekatek.fw_bruteforce_ports
 *   flood        one destination, many packets
 *
 * within a window of mekatek.fw_alert_window seconds.  Windows start every
 * half window, so a burst that lasts at most half a window is always seen
 * whole.  The windows of one burst, and a burst that continues one already
 * reported (its window starts before the alert's last packet plus one
 * window), extend that alert instead of making a new one: one row in
 * mekatek.fw_alert and one NOTIFY on channel mekatek_firewall per burst.
 * The work is one set-wise statement per inserting statement, so the cost
 * grows with what was inserted, not with the log.
 */
#include "core/mekatek.h"

#include <sys/socket.h>

#include "miscadmin.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "catalog/pg_trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/hsearch.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

#include "firewall/firewall.h"

bool		fw_alerts = true;
int			fw_alert_window = 60;
int			fw_scan_ports = 20;
int			fw_scan_hosts = 20;
int			fw_bruteforce_attempts = 10;
char	   *fw_bruteforce_ports = NULL;
int			fw_flood_packets = 1000;

#define W "make_interval(secs => $1)"

/* the load path's counts while fw_load or fw_load_file runs (below) */
typedef struct alert_acc alert_acc;
static alert_acc *acc = NULL;

/*
 * What both paths share, from the per-window counts w(kind, w, src, dst,
 * dpt, n, nsyn, t0, t1) on: the windows over a threshold, bursts as
 * islands of windows, extending a recent alert or inserting a new one.
 * kind is NULL in the trigger's w (every row counts for every kind); the
 * load path's rows were fetched for one kind each.
 */
#define DETECT_TAIL \
"), cand AS (" \
"  SELECT 'port_scan'::text AS kind, w.src, w.dst, NULL::int AS dport, min(w.t0) AS t0, max(w.t1) AS t1," \
"         count(DISTINCT w.dpt) AS events" \
"    FROM w WHERE w.dpt IS NOT NULL AND coalesce(w.kind, 0) = 0 GROUP BY w.w, w.src, w.dst HAVING count(DISTINCT w.dpt) >= $2" \
"  UNION ALL" \
"  SELECT 'host_scan', w.src, NULL::inet, NULL::int, min(w.t0), max(w.t1), count(DISTINCT w.dst)" \
"    FROM w WHERE coalesce(w.kind, 1) = 1 GROUP BY w.w, w.src HAVING count(DISTINCT w.dst) >= $3" \
"  UNION ALL" \
"  SELECT 'brute_force', w.src, w.dst, w.dpt, min(w.t0), max(w.t1), sum(w.nsyn)::bigint" \
"    FROM w WHERE w.dpt = ANY (string_to_array($5, ',')::int[]) AND coalesce(w.kind, 2) = 2 GROUP BY w.w, w.src, w.dst, w.dpt HAVING sum(w.nsyn) >= $4" \
"  UNION ALL" \
"  SELECT 'flood', NULL::inet, w.dst, NULL::int, min(w.t0), max(w.t1), sum(w.n)::bigint" \
"    FROM w WHERE coalesce(w.kind, 3) = 3 GROUP BY w.w, w.dst HAVING sum(w.n) >= $6" \
"), isl AS (" \
"  SELECT c.*, sum(CASE WHEN c.t0 <= c.prev_t1 + " W " THEN 0 ELSE 1 END)" \
"           OVER (PARTITION BY c.kind, c.src, c.dst, c.dport ORDER BY c.t0, c.t1) AS island" \
"    FROM (SELECT c.*, max(c.t1) OVER (PARTITION BY c.kind, c.src, c.dst, c.dport ORDER BY c.t0, c.t1" \
"                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_t1" \
"            FROM cand c) c" \
"), det AS (" \
"  SELECT kind, src, dst, dport, min(t0) AS t0, max(t1) AS t1, max(events) AS events" \
"    FROM isl GROUP BY kind, src, dst, dport, island" \
"), ext AS (" \
"  UPDATE mekatek.fw_alert a" \
"     SET first_seen = least(a.first_seen, d.t0), last_seen = greatest(a.last_seen, d.t1)," \
"         events = greatest(a.events, d.events)" \
"    FROM det d" \
"   WHERE a.kind = d.kind AND a.src IS NOT DISTINCT FROM d.src AND a.dst IS NOT DISTINCT FROM d.dst" \
"     AND a.dport IS NOT DISTINCT FROM d.dport" \
"     AND d.t0 <= a.last_seen + " W " AND d.t1 >= a.first_seen - " W \
"  RETURNING d.kind, d.src, d.dst, d.dport, d.t0" \
")" \
"INSERT INTO mekatek.fw_alert (kind, src, dst, dport, first_seen, last_seen, events)" \
"SELECT d.kind, d.src, d.dst, d.dport, d.t0, d.t1, d.events FROM det d" \
" WHERE NOT EXISTS (SELECT FROM ext e WHERE e.kind = d.kind AND e.src IS NOT DISTINCT FROM d.src" \
"                      AND e.dst IS NOT DISTINCT FROM d.dst AND e.dport IS NOT DISTINCT FROM d.dport" \
"                      AND e.t0 = d.t0)" \
" ORDER BY d.t0, d.kind " \
"RETURNING id, kind, host(src), host(dst), dport, first_seen, last_seen, events"

static const char *const detect_sql =
"WITH nw AS MATERIALIZED ("
"  SELECT n.id, n.logged_at, n.src, n.dst, n.dpt,"
"         coalesce(lower(n.proto) = 'tcp' AND n.tcp_flags @> '{SYN}' AND NOT n.tcp_flags @> '{ACK}', false) AS syn"
"    FROM new_rows n WHERE n.logged_at IS NOT NULL"
"), span AS ("
"  SELECT min(logged_at) AS lo, max(logged_at) AS hi, min(id) AS first_id FROM nw"
"), ctx AS ("
"  SELECT logged_at, src, dst, dpt, syn FROM nw"
"  UNION ALL"
"  SELECT l.logged_at, l.src, l.dst, l.dpt,"
"         coalesce(lower(l.proto) = 'tcp' AND l.tcp_flags @> '{SYN}' AND NOT l.tcp_flags @> '{ACK}', false)"
"    FROM mekatek.fw_log l, span s"
"   WHERE l.logged_at >= s.lo - " W " AND l.logged_at < s.lo AND l.id < s.first_id"
"), g AS ("
"  SELECT NULL::int AS kind, floor(extract(epoch FROM c.logged_at) * 2 / $1)::bigint AS k, c.src, c.dst, c.dpt,"
"         count(*) AS n, count(*) FILTER (WHERE c.syn) AS nsyn, min(c.logged_at) AS t0, max(c.logged_at) AS t1"
"    FROM ctx c GROUP BY 2, 3, 4, 5"
"), w AS ("
"  SELECT g.kind, g.k AS w, g.src, g.dst, g.dpt, g.n, g.nsyn, g.t0, g.t1 FROM g"
"  UNION ALL"
"  SELECT g.kind, g.k - 1, g.src, g.dst, g.dpt, g.n, g.nsyn, g.t0, g.t1 FROM g"
DETECT_TAIL;

/*
 * The load path's statement: the rows of each candidate (kind, key, time
 * range) from mekatek.fw_log itself, this load's (id above the log's
 * highest id before it) and the window before its first row, then the
 * same counting as the trigger's.  Ranges of one key are merged first, so
 * no row counts twice; LATERAL keeps one index range scan per candidate.
 */
static const char *const load_detect_sql =
"WITH c AS ("
"  SELECT * FROM unnest($7::int[], $8::inet[], $9::inet[], $10::int[], $11::timestamptz[], $12::timestamptz[])"
"           AS c(kind, src, dst, dpt, lo, hi)"
"), cm AS ("
"  SELECT c.kind, c.src, c.dst, c.dpt, unnest(range_agg(tstzrange(c.lo, c.hi))) AS r"
"    FROM c GROUP BY 1, 2, 3, 4"
"), ctx AS ("
"  SELECT cm.kind, l.logged_at, l.src, l.dst, l.dpt,"
"         coalesce(lower(l.proto) = 'tcp' AND l.tcp_flags @> '{SYN}' AND NOT l.tcp_flags @> '{ACK}', false) AS syn"
"    FROM cm, LATERAL (SELECT l.* FROM mekatek.fw_log l"
"                       WHERE l.logged_at >= lower(cm.r) AND l.logged_at < upper(cm.r)"
"                         AND (cm.src IS NULL OR l.src = cm.src) AND (cm.dst IS NULL OR l.dst = cm.dst)"
"                         AND (cm.dpt IS NULL OR l.dpt = cm.dpt)"
"                         AND (l.id > $13 OR (l.logged_at >= $14 - " W " AND l.logged_at < $14))) l"
"), g AS ("
"  SELECT c.kind, floor(extract(epoch FROM c.logged_at) * 2 / $1)::bigint AS k, c.src, c.dst, c.dpt,"
"         count(*) AS n, count(*) FILTER (WHERE c.syn) AS nsyn, min(c.logged_at) AS t0, max(c.logged_at) AS t1"
"    FROM ctx c GROUP BY 1, 2, 3, 4, 5"
"), w AS ("
"  SELECT g.kind, g.k AS w, g.src, g.dst, g.dpt, g.n, g.nsyn, g.t0, g.t1 FROM g"
"  UNION ALL"
"  SELECT g.kind, g.k - 1, g.src, g.dst, g.dpt, g.n, g.nsyn, g.t0, g.t1 FROM g"
DETECT_TAIL;

static bool
check_ports(char **newval, void **extra, GucSource source)
{
	const char *s = *newval;
	int			n = 0;

	if (s == NULL || *s == '\0')
		return true;
	while (*s)
	{
		long		v = 0;
		int			digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 6)
		{
			v = v * 10 + (*s++ - '0');
			digits++;
		}
		if (digits == 0 || v > 65535 || (*s != ',' && *s != '\0') || ++n > 64)
		{
			GUC_check_errdetail("A comma-separated list of at most 64 ports between 0 and 65535, such as \"22,3389\".");
			return false;
		}
		if (*s == ',')
			s++;
	}
	return true;
}

void
mk_fw_alert_init(void)
{
	DefineCustomBoolVariable("mekatek.fw_alerts",
							 "Detect port scans, host scans, brute force and floods when lines are loaded into mekatek.fw_log.",
							 NULL, &fw_alerts, true, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.fw_alert_window",
							"Length of the detection window.",
							"Windows start every half window.", &fw_alert_window, 60, 2, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.fw_scan_ports",
							"Destination ports of one host probed by one source within a window that make a port scan.",
							NULL, &fw_scan_ports, 20, 2, 65536, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.fw_scan_hosts",
							"Destinations probed by one source within a window that make a host scan.",
							NULL, &fw_scan_hosts, 20, 2, INT_MAX, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.fw_bruteforce_attempts",
							"New connections (TCP SYN) from one source to one service within a window that make a brute force.",
							NULL, &fw_bruteforce_attempts, 10, 2, INT_MAX, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mekatek.fw_bruteforce_ports",
							   "The service ports brute force is looked for on.",
							   NULL, &fw_bruteforce_ports, "21,22,23,25,110,143,445,1433,3306,3389,5432,5900",
							   PGC_SUSET, 0, check_ports, NULL, NULL);
	DefineCustomIntVariable("mekatek.fw_flood_packets",
							"Packets to one destination within a window that make a flood.",
							NULL, &fw_flood_packets, 1000, 2, INT_MAX, PGC_SUSET, 0, NULL, NULL, NULL);
}

/* One NOTIFY per alert row the detection statement returned. */
static void
notify_alerts(uint64 n)
{
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MkPayload	p;
		bool		isnull;
		Datum		d;

		mk_payload_begin(&p);
		mk_payload_int(&p, "id", DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)));
		mk_payload_str(&p, "kind", SPI_getvalue(tup, desc, 2));
		mk_payload_str(&p, "src", SPI_getvalue(tup, desc, 3));
		mk_payload_str(&p, "dst", SPI_getvalue(tup, desc, 4));
		d = SPI_getbinval(tup, desc, 5, &isnull);
		if (!isnull)
			mk_payload_int(&p, "dport", DatumGetInt32(d));
		mk_payload_time(&p, "first_seen", DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull)));
		mk_payload_time(&p, "last_seen", DatumGetTimestampTz(SPI_getbinval(tup, desc, 7, &isnull)));
		mk_payload_int(&p, "events", DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull)));
		mk_payload_notify(&p, "mekatek_firewall");
	}
}

static void
setting_args(Datum *args)
{
	args[0] = Int32GetDatum(fw_alert_window);
	args[1] = Int32GetDatum(fw_scan_ports);
	args[2] = Int32GetDatum(fw_scan_hosts);
	args[3] = Int32GetDatum(fw_bruteforce_attempts);
	args[4] = CStringGetTextDatum(fw_bruteforce_ports ? fw_bruteforce_ports : "");
	args[5] = Int32GetDatum(fw_flood_packets);
}

PG_FUNCTION_INFO_V1(mk_fw_log_alert_trg);
Datum
mk_fw_log_alert_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Oid			types[6] = {INT4OID, INT4OID, INT4OID, INT4OID, TEXTOID, INT4OID};
	Datum		args[6];
	uint64		n;

	mk_trigger_on(fcinfo, "fw_log_alert_trg", false, MK_ON_INSERT, "fw_log");
	/* fw_load and fw_load_file count as they parse (below) */
	if (!fw_alerts || td->tg_newtable == NULL || acc != NULL)
		return PointerGetDatum(NULL);
	setting_args(args);
	SPI_connect();
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "fw_log_alert_trg: could not register the transition table");
	n = mk_spi_execute(detect_sql, 6, types, args, NULL, false, 0, SPI_OK_INSERT_RETURNING,
					   "fw_log_alert_trg: detecting threats");
	notify_alerts(n);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------- */
/* The load path: counting while parsing                                   */
/* ---------------------------------------------------------------------- */

/*
 * A 2,000,000-line load made the trigger's statement (grouping every new
 * row by window and key, four ways) cost more than the load itself.  The
 * bulk path instead counts, per half-window bucket k, the rows of each
 * detection key as it parses them:
 *
 *   port_scan (src, dst) rows with a port, host_scan (src) rows,
 *   brute_force (src, dst, dpt) SYNs to a watched port, flood (dst) rows.
 *
 * A count is an upper bound of what the window measures (distinct ports
 * or hosts are at most the rows), so a window whose two buckets together
 * stay under the threshold cannot be a detection.  The others become
 * candidates, and the trigger's counting runs on their rows only, read
 * back from fw_log (load_detect_sql): the same alerts, for the work of
 * the few keys that come near a threshold.
 *
 * Logs arrive in time order, so a bucket three behind the newest is
 * final: it is evaluated and dropped, which keeps the table to about two
 * windows of rows.  The first two buckets stay until the end, when the
 * log rows of the window before the load are counted in (the trigger's
 * context).  A row older than the dropped buckets makes its own keys
 * candidates; one older than the load's first buckets, or a table over
 * work_mem, makes every key a candidate (the trigger's full work, read
 * from fw_log).
 */
typedef struct acc_key
{
	int64		k;				/* bucket: floor(epoch * 2 / window) */
	int32		kind;			/* 0 port_scan, 1 host_scan, 2 brute_force, 3 flood */
	int32		dpt;			/* brute_force only, else -1 */
	uint8		fam;
	uint8		src[16];		/* zero when not part of the key */
	uint8		dst[16];
} acc_key;

typedef struct acc_entry
{
	acc_key		key;
	int64		n;
	bool		done;			/* a kept first bucket, evaluated once already */
} acc_entry;

struct alert_acc
{
	MemoryContext cxt;
	HTAB	   *h;
	int64		bucket_us;		/* half a window, in microseconds */
	int64		maxk,
				firstk,
				dropped;		/* buckets <= dropped are gone */
	bool		any,
				full;
	TimestampTz lo,
				hi;
	int64		pre_max_id;
	int32		thr[4];
	int			nports;
	int32		ports[64];
	/* the candidates, as the arrays load_detect_sql takes */
	int			ncand,
				capcand;
	int32	   *c_kind,
			   *c_dpt;
	Datum	   *c_src,
			   *c_dst;
	bool	   *c_src_null,
			   *c_dst_null,
			   *c_dpt_null;
	TimestampTz *c_lo,
			   *c_hi;
};

#define EPOCH_SHIFT_US ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

static int64
bucket_of(const alert_acc *a, TimestampTz t)
{
	int64		us = t + EPOCH_SHIFT_US;	/* since 1970, as extract(epoch) */
	int64		q = us / a->bucket_us;

	return (us % a->bucket_us < 0) ? q - 1 : q;		/* floor */
}

static TimestampTz
bucket_start(const alert_acc *a, int64 k)
{
	return k * a->bucket_us - EPOCH_SHIFT_US;
}

static void
add_candidate(alert_acc *a, const acc_key *key, int64 k_from, int64 k_to)
{
	MemoryContext old = MemoryContextSwitchTo(a->cxt);
	int			i;

	if (a->ncand == a->capcand)
	{
		a->capcand = a->capcand ? a->capcand * 2 : 256;
#define GROW(f, t) a->f = a->f ? repalloc(a->f, sizeof(t) * a->capcand) : palloc(sizeof(t) * a->capcand)
		GROW(c_kind, int32);
		GROW(c_dpt, int32);
		GROW(c_src, Datum);
		GROW(c_dst, Datum);
		GROW(c_src_null, bool);
		GROW(c_dst_null, bool);
		GROW(c_dpt_null, bool);
		GROW(c_lo, TimestampTz);
		GROW(c_hi, TimestampTz);
#undef GROW
	}
	i = a->ncand++;
	a->c_kind[i] = key->kind;
	a->c_src_null[i] = key->kind == 3;
	a->c_dst_null[i] = key->kind == 1;
	a->c_dpt_null[i] = key->kind != 2;
	a->c_dpt[i] = key->dpt;
	if (!a->c_src_null[i])
		a->c_src[i] = mk_fw_inet_datum(key->fam, key->src);
	if (!a->c_dst_null[i])
		a->c_dst[i] = mk_fw_inet_datum(key->fam, key->dst);
	a->c_lo[i] = bucket_start(a, k_from);
	a->c_hi[i] = bucket_start(a, k_to + 1);
	MemoryContextSwitchTo(old);
}

/* window k (buckets k, k+1) of e's key over its threshold: a candidate */
static void
evaluate(alert_acc *a, const acc_entry *e)
{
	acc_key		next = e->key;
	acc_entry  *ne;
	int64		n = e->n;

	next.k++;
	ne = hash_search(a->h, &next, HASH_FIND, NULL);
	if (ne)
		n += ne->n;
	if (n >= a->thr[e->key.kind])
		add_candidate(a, &e->key, e->key.k, e->key.k + 1);
}

static void
sweep(alert_acc *a, int64 upto, bool keep_first)
{
	HASH_SEQ_STATUS st;
	acc_entry  *e;
	List	   *gone = NIL;
	ListCell   *lc;

	hash_seq_init(&st, a->h);
	while ((e = hash_seq_search(&st)) != NULL)
	{
		if (e->key.k > upto)
			continue;
		if (keep_first && e->key.k <= a->firstk + 1)
		{
			/* kept for the context; its window is complete now */
			if (!e->done)
				evaluate(a, e);
			e->done = true;
			continue;
		}
		evaluate(a, e);
		gone = lappend(gone, e);
	}
	/* removed after the scan: evaluate looks at the next bucket's entry */
	foreach(lc, gone)
		hash_search(a->h, &((acc_entry *) lfirst(lc))->key, HASH_REMOVE, NULL);
	list_free(gone);
}

static void
count_key(alert_acc *a, acc_key *key)
{
	bool		found;
	acc_entry  *e = hash_search(a->h, key, HASH_ENTER, &found);

	if (!found)
	{
		e->n = 0;
		e->done = false;
	}
	e->n++;
}

static bool
watched_port(const alert_acc *a, int32 dpt)
{
	for (int i = 0; i < a->nports; i++)
		if (a->ports[i] == dpt)
			return true;
	return false;
}

/*
 * The bulk path detects in place of the trigger, so exactly when the
 * trigger would fire: not on 0.1.0's schema (no trigger, no fw_alert), not
 * when an admin disabled it, not under session_replication_role = replica
 * (a restore or a replica must not raise alerts a second time).
 */
static bool
trigger_would_fire(void)
{
	char		en = 0;

	SPI_connect();
	mk_spi_execute("SELECT t.tgenabled FROM pg_catalog.pg_trigger t"
				   " WHERE t.tgrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('mekatek.fw_log')"
				   "   AND t.tgname OPERATOR(pg_catalog.=) 'fw_log_alert'",
				   0, NULL, NULL, NULL, true, 1, SPI_OK_SELECT, "fw_load: reading the alert trigger");
	if (SPI_processed == 1)
	{
		bool		isnull;

		en = DatumGetChar(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		return en == TRIGGER_FIRES_ALWAYS || en == TRIGGER_FIRES_ON_REPLICA;
	return en == TRIGGER_FIRES_ALWAYS || en == TRIGGER_FIRES_ON_ORIGIN;
}

/* Start counting for one fw_load / fw_load_file (before its COPY). */
void
mk_fw_alert_load_begin(void)
{
	HASHCTL		ctl;
	alert_acc  *a;
	const char *p;

	if (!fw_alerts || !trigger_would_fire())
		return;
	a = palloc0(sizeof(alert_acc));
	a->cxt = AllocSetContextCreate(CurrentMemoryContext, "fw_load alerts", ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(acc_key);
	ctl.entrysize = sizeof(acc_entry);
	ctl.hcxt = a->cxt;
	a->h = hash_create("fw_load alert counts", 4096, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	a->bucket_us = (int64) fw_alert_window * USECS_PER_SEC / 2;
	a->thr[0] = fw_scan_ports;
	a->thr[1] = fw_scan_hosts;
	a->thr[2] = fw_bruteforce_attempts;
	a->thr[3] = fw_flood_packets;
	for (p = fw_bruteforce_ports ? fw_bruteforce_ports : ""; *p && a->nports < 64;)
	{
		a->ports[a->nports++] = (int32) strtol(p, (char **) &p, 10);
		if (*p == ',')
			p++;
	}
	SPI_connect();
	mk_spi_execute("SELECT coalesce(max(id), 0) FROM mekatek.fw_log", 0, NULL, NULL, NULL, true, 1,
				   SPI_OK_SELECT, "fw_load: reading the log's last id");
	{
		bool		isnull;

		a->pre_max_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	acc = a;
}

/* One row the load hands to COPY (its header time known). */
void
mk_fw_alert_load_row(TimestampTz t, int family, const uint8 *src, const uint8 *dst, int32 dpt, bool syn)
{
	alert_acc  *a = acc;
	acc_key		key;
	int64		k;
	int			alen = family == 4 ? 4 : 16;

	if (a == NULL)
		return;
	k = bucket_of(a, t);
	if (!a->any)
	{
		a->any = true;
		a->firstk = a->maxk = k;
		a->dropped = k - 3;
		a->lo = a->hi = t;
	}
	if (t < a->lo)
		a->lo = t;
	if (t > a->hi)
		a->hi = t;
	if (a->full)
		return;
	if (k < a->firstk - 1)
	{
		/* before the first buckets, kept for the context: count all */
		a->full = true;
		return;
	}
	memset(&key, 0, sizeof(key));
	key.fam = (uint8) family;
	key.dpt = -1;
	if (k <= a->dropped)
	{
		/* late: its buckets are gone, so its keys are candidates */
		key.k = k;
		memcpy(key.src, src, alen);
		memcpy(key.dst, dst, alen);
		for (key.kind = 0; key.kind < 4; key.kind++)
		{
			acc_key		c = key;

			if (c.kind == 1)
				memset(c.dst, 0, sizeof(c.dst));
			if (c.kind == 3)
				memset(c.src, 0, sizeof(c.src));
			if (c.kind == 2)
				c.dpt = dpt;
			add_candidate(a, &c, k - 1, k + 1);
		}
		return;
	}
	if (k > a->maxk)
	{
		a->maxk = k;
		if (k - 3 > a->dropped)
		{
			sweep(a, k - 3, true);
			a->dropped = k - 3;
		}
	}
	key.k = k;
	/* host_scan: src */
	key.kind = 1;
	memcpy(key.src, src, alen);
	count_key(a, &key);
	/* port_scan: src, dst (rows with a port) */
	memcpy(key.dst, dst, alen);
	if (dpt >= 0)
	{
		key.kind = 0;
		count_key(a, &key);
	}
	/* brute_force: src, dst, dpt (SYNs to a watched port) */
	if (syn && dpt >= 0 && watched_port(a, dpt))
	{
		key.kind = 2;
		key.dpt = dpt;
		count_key(a, &key);
		key.dpt = -1;
	}
	/* flood: dst */
	key.kind = 3;
	memset(key.src, 0, sizeof(key.src));
	count_key(a, &key);
	if (MemoryContextMemAllocated(a->cxt, true) > (Size) work_mem * 1024 * 4)
		a->full = true;		/* bounded: fall back to looking at every row */
}

/* the window before the load: the trigger's context rows, counted in */
static const char *const context_sql =
"SELECT l.logged_at, l.src, l.dst, l.dpt,"
"       coalesce(pg_catalog.lower(l.proto) OPERATOR(pg_catalog.=) 'tcp'"
"                AND l.tcp_flags OPERATOR(pg_catalog.@>) '{SYN}'"
"                AND NOT l.tcp_flags OPERATOR(pg_catalog.@>) '{ACK}', false)"
"  FROM mekatek.fw_log l"
" WHERE l.logged_at OPERATOR(pg_catalog.>=) $1 AND l.logged_at OPERATOR(pg_catalog.<) $2"
"   AND l.id OPERATOR(pg_catalog.<=) $3";

/* After the COPY: the candidates' detection, its rows and NOTIFYs. */
void
mk_fw_alert_load_end(void)
{
	alert_acc  *a = acc;
	Oid			types[14] = {INT4OID, INT4OID, INT4OID, INT4OID, TEXTOID, INT4OID,
		INT4ARRAYOID, INETARRAYOID, INETARRAYOID, INT4ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
	INT8OID, TIMESTAMPTZOID};
	Datum		args[14];
	int			dims[1];
	int			lbs[1] = {1};
	uint64		n;

	if (a == NULL)
		return;
	acc = NULL;
	if (!a->any)
	{
		MemoryContextDelete(a->cxt);
		return;
	}
	SPI_connect();
	if (!a->full)
	{
		Oid			ct[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID};
		Datum		ca[3] = {TimestampTzGetDatum(a->lo - (int64) fw_alert_window * USECS_PER_SEC),
		TimestampTzGetDatum(a->lo), Int64GetDatum(a->pre_max_id)};
		uint64		nc = mk_spi_execute(context_sql, 3, ct, ca, NULL, true, 0, SPI_OK_SELECT,
										"fw_load: reading the window before the load");

		TimestampTz load_lo = a->lo;

		acc = a;				/* count them in */
		a->dropped = PG_INT64_MIN;	/* they are before the first buckets, never late */
		a->firstk = PG_INT64_MIN / 4;
		for (uint64 i = 0; i < nc && !a->full; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			TimestampTz t = DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull));
			uint8		sa[16],
						da[16];
			int			fam;
			Datum		sd = SPI_getbinval(tup, desc, 2, &isnull);
			Datum		dd = SPI_getbinval(tup, desc, 3, &isnull);
			Datum		pd = SPI_getbinval(tup, desc, 4, &isnull);
			int32		dpt = isnull ? -1 : DatumGetInt32(pd);
			bool		syn = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
			inet	   *si = DatumGetInetPP(sd);
			inet	   *di = DatumGetInetPP(dd);

			fam = ip_family(si) == PGSQL_AF_INET ? 4 : 6;
			if ((ip_family(di) == PGSQL_AF_INET ? 4 : 6) != fam)
				continue;		/* fw_log rows have one family; be safe */
			memset(sa, 0, sizeof(sa));
			memset(da, 0, sizeof(da));
			memcpy(sa, ip_addr(si), fam == 4 ? 4 : 16);
			memcpy(da, ip_addr(di), fam == 4 ? 4 : 16);
			mk_fw_alert_load_row(t, fam, sa, da, dpt, syn);
		}
		acc = NULL;
		a->lo = load_lo;		/* the context rows are not the load's */
		if (!a->full)
			sweep(a, PG_INT64_MAX, false);
	}
	if (a->full)
	{
		/* every key, every row of the load's span and the window before it */
		acc_key		key;

		a->ncand = 0;
		memset(&key, 0, sizeof(key));
		key.fam = 4;
		for (key.kind = 0; key.kind < 4; key.kind++)
		{
			add_candidate(a, &key, bucket_of(a, a->lo) - 2, bucket_of(a, a->hi) + 1);
			a->c_src_null[a->ncand - 1] = a->c_dst_null[a->ncand - 1] = a->c_dpt_null[a->ncand - 1] = true;
		}
	}
	if (a->ncand > 0)
	{
		setting_args(args);
		dims[0] = a->ncand;
		{
			Datum	   *kd = palloc(sizeof(Datum) * a->ncand),
					   *pd = palloc(sizeof(Datum) * a->ncand),
					   *lod = palloc(sizeof(Datum) * a->ncand),
					   *hid = palloc(sizeof(Datum) * a->ncand);

			for (int i = 0; i < a->ncand; i++)
			{
				kd[i] = Int32GetDatum(a->c_kind[i]);
				pd[i] = Int32GetDatum(a->c_dpt[i]);
				lod[i] = TimestampTzGetDatum(a->c_lo[i]);
				hid[i] = TimestampTzGetDatum(a->c_hi[i]);
			}
			args[6] = PointerGetDatum(construct_array(kd, a->ncand, INT4OID, 4, true, TYPALIGN_INT));
			args[7] = PointerGetDatum(construct_md_array(a->c_src, a->c_src_null, 1, dims, lbs, INETOID, -1, false, TYPALIGN_INT));
			args[8] = PointerGetDatum(construct_md_array(a->c_dst, a->c_dst_null, 1, dims, lbs, INETOID, -1, false, TYPALIGN_INT));
			args[9] = PointerGetDatum(construct_md_array(pd, a->c_dpt_null, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
			args[10] = PointerGetDatum(construct_array(lod, a->ncand, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			args[11] = PointerGetDatum(construct_array(hid, a->ncand, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		}
		args[12] = Int64GetDatum(a->pre_max_id);
		args[13] = TimestampTzGetDatum(a->lo);
		n = mk_spi_execute(load_detect_sql, 14, types, args, NULL, false, 0, SPI_OK_INSERT_RETURNING,
						   "fw_load: detecting threats");
		notify_alerts(n);
	}
	SPI_finish();
	MemoryContextDelete(a->cxt);
}

/* An error during the load: forget the counts (their context goes too). */
void
mk_fw_alert_load_abort(void)
{
	acc = NULL;
}
