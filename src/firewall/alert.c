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

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
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
"  SELECT floor(extract(epoch FROM c.logged_at) * 2 / $1)::bigint AS k, c.src, c.dst, c.dpt,"
"         count(*) AS n, count(*) FILTER (WHERE c.syn) AS nsyn, min(c.logged_at) AS t0, max(c.logged_at) AS t1"
"    FROM ctx c GROUP BY 1, 2, 3, 4"
"), w AS ("
"  SELECT g.k AS w, g.src, g.dst, g.dpt, g.n, g.nsyn, g.t0, g.t1 FROM g"
"  UNION ALL"
"  SELECT g.k - 1, g.src, g.dst, g.dpt, g.n, g.nsyn, g.t0, g.t1 FROM g"
"), cand AS ("
"  SELECT 'port_scan'::text AS kind, w.src, w.dst, NULL::int AS dport, min(w.t0) AS t0, max(w.t1) AS t1,"
"         count(DISTINCT w.dpt) AS events"
"    FROM w WHERE w.dpt IS NOT NULL GROUP BY w.w, w.src, w.dst HAVING count(DISTINCT w.dpt) >= $2"
"  UNION ALL"
"  SELECT 'host_scan', w.src, NULL::inet, NULL::int, min(w.t0), max(w.t1), count(DISTINCT w.dst)"
"    FROM w GROUP BY w.w, w.src HAVING count(DISTINCT w.dst) >= $3"
"  UNION ALL"
"  SELECT 'brute_force', w.src, w.dst, w.dpt, min(w.t0), max(w.t1), sum(w.nsyn)::bigint"
"    FROM w WHERE w.dpt = ANY (string_to_array($5, ',')::int[]) GROUP BY w.w, w.src, w.dst, w.dpt HAVING sum(w.nsyn) >= $4"
"  UNION ALL"
"  SELECT 'flood', NULL::inet, w.dst, NULL::int, min(w.t0), max(w.t1), sum(w.n)::bigint"
"    FROM w GROUP BY w.w, w.dst HAVING sum(w.n) >= $6"
"), isl AS ("
"  SELECT c.*, sum(CASE WHEN c.t0 <= c.prev_t1 + " W " THEN 0 ELSE 1 END)"
"           OVER (PARTITION BY c.kind, c.src, c.dst, c.dport ORDER BY c.t0, c.t1) AS island"
"    FROM (SELECT c.*, max(c.t1) OVER (PARTITION BY c.kind, c.src, c.dst, c.dport ORDER BY c.t0, c.t1"
"                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_t1"
"            FROM cand c) c"
"), det AS ("
"  SELECT kind, src, dst, dport, min(t0) AS t0, max(t1) AS t1, max(events) AS events"
"    FROM isl GROUP BY kind, src, dst, dport, island"
"), ext AS ("
"  UPDATE mekatek.fw_alert a"
"     SET first_seen = least(a.first_seen, d.t0), last_seen = greatest(a.last_seen, d.t1),"
"         events = greatest(a.events, d.events)"
"    FROM det d"
"   WHERE a.kind = d.kind AND a.src IS NOT DISTINCT FROM d.src AND a.dst IS NOT DISTINCT FROM d.dst"
"     AND a.dport IS NOT DISTINCT FROM d.dport"
"     AND d.t0 <= a.last_seen + " W " AND d.t1 >= a.first_seen - " W
"  RETURNING d.kind, d.src, d.dst, d.dport, d.t0"
")"
"INSERT INTO mekatek.fw_alert (kind, src, dst, dport, first_seen, last_seen, events)"
"SELECT d.kind, d.src, d.dst, d.dport, d.t0, d.t1, d.events FROM det d"
" WHERE NOT EXISTS (SELECT FROM ext e WHERE e.kind = d.kind AND e.src IS NOT DISTINCT FROM d.src"
"                      AND e.dst IS NOT DISTINCT FROM d.dst AND e.dport IS NOT DISTINCT FROM d.dport"
"                      AND e.t0 = d.t0)"
" ORDER BY d.t0, d.kind "
"RETURNING id, kind, host(src), host(dst), dport, first_seen, last_seen, events";

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

PG_FUNCTION_INFO_V1(mk_fw_log_alert_trg);
Datum
mk_fw_log_alert_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Oid			types[6] = {INT4OID, INT4OID, INT4OID, INT4OID, TEXTOID, INT4OID};
	Datum		args[6];
	uint64		n;

	mk_trigger_on(fcinfo, "fw_log_alert_trg", false, MK_ON_INSERT, "fw_log");
	if (!fw_alerts || td->tg_newtable == NULL)
		return PointerGetDatum(NULL);
	args[0] = Int32GetDatum(fw_alert_window);
	args[1] = Int32GetDatum(fw_scan_ports);
	args[2] = Int32GetDatum(fw_scan_hosts);
	args[3] = Int32GetDatum(fw_bruteforce_attempts);
	args[4] = CStringGetTextDatum(fw_bruteforce_ports ? fw_bruteforce_ports : "");
	args[5] = Int32GetDatum(fw_flood_packets);
	SPI_connect();
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "fw_log_alert_trg: could not register the transition table");
	n = mk_spi_execute(detect_sql, 6, types, args, NULL, false, 0, SPI_OK_INSERT_RETURNING,
					   "fw_log_alert_trg: detecting threats");
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
	SPI_finish();
	return PointerGetDatum(NULL);
}
