/*
 * mekatek-edge: forward device events to Mekatek, losing none.
 *
 * Reads event lines from stdin or a serial device, inserts them in batches
 * with libpq, and when the database cannot be reached appends them to a
 * local spool file, which is replayed in order once it comes back.  Every
 * event carries an id and the event tables are unique on it: a batch whose
 * COMMIT was lost with the connection is simply sent again, INSERT ... ON
 * CONFLICT DO NOTHING drops what already arrived.
 *
 * The id is the line's @ID, or one derived from the line so that reading
 * the same input again applies nothing twice:
 *   - from a file (-i FILE, not a terminal): EDGE:f:HASH of the file's
 *     path, the line number and the line;
 *   - from a stream (stdin, a serial port), for a line with a TIME:
 *     EDGE:t:HASH of the line, and :K for the K-th identical line among
 *     the last 4096 (two visitors reported in the same second stay two);
 *   - from a stream, for a line without TIME: the edge stamps it on
 *     arrival, so it is a new reading every time it is read, and its id is
 *     EDGE:START:SEQ, unique to this run.  Replaying a stream of such
 *     lines applies them again: give them a TIME or an @ID, or read them
 *     with -i FILE.
 * HASH is the first 128 bits of SHA-256, in hex.
 *
 * Event lines (fields separated by blanks; '#' starts a comment line):
 *   [@ID] visitor CAMERA ROOM in|out [N] [TIME]
 *   [@ID] rfid SCANNER UID LAB [TIME]
 * TIME is ISO 8601 without blanks (2024-05-01T10:00:00+07); when absent the
 * edge stamps the moment it read the line, so a spooled event keeps the
 * time it happened, not the time it was replayed.
 *
 * Lines the database refuses as bad data (an unknown time format, a name
 * too long) cannot succeed on replay; like lines refused here (a bad
 * direction, too many fields) they go to the reject file instead of
 * blocking the stream.  The reject file is itself valid input: each record
 * is a comment line "# rejected: REASON" followed by the line as an input
 * line (a server-refused event written with its @ID, so that a corrected
 * line keeps its identity); a line that cannot be written back as it was
 * read (longer than 1024 bytes, holding a NUL byte, a corrupt spool line)
 * is a comment only.  Fix the lines and feed the file back with -i.
 *
 * The summary counts every line read: lines = events + rejected here +
 * blank or comment; events = inserted + duplicates + refused by the
 * server + left in the spool.
 *
 * With --mqtt the events come from an MQTT broker instead (QoS 1,
 * topics and JSON payloads in edge_mqtt.c) and take the same way: batch,
 * spool, replay.  A malformed message is rejected as the input line
 * "mqtt TOPIC PAYLOAD", which this program also reads, so the reject file
 * stays one format.  libmosquitto 2.0 acknowledges a message when it
 * arrives: the batch being filled is lost if the process is killed
 * outright (SIGTERM and SIGINT flush it).
 *
 * Exit status: 0 when everything read was delivered (or rejected), 1 on a
 * usage or local I/O error, 2 when --wait ran out with events still in the
 * spool (they stay there for the next run).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <mosquitto.h>
#include <openssl/evp.h>

#include "edge_mqtt.h"

#define MAX_LINE	1024		/* longer lines are rejected, never cut */
#define MAX_BATCH	1000
#define NFIELDS		7			/* id kind f1 f2 f3 f4 time */
#define EV_MAX		(MAX_LINE + 512)	/* a line plus generated id and time */

typedef struct Event
{
	char	   *f[NFIELDS];		/* points into text */
	char		text[EV_MAX];
} Event;

static const char *conninfo = "";
static const char *input_path = NULL;
static const char *spool_path = "mekatek-edge.spool";
static const char *reject_path = NULL;
static char edge_id[128];
static int	batch_max = 200;
static int	flush_ms = 200;
static int	wait_s = -1;			/* at EOF, how long to keep retrying; -1 forever */
static int	baud = 115200;
static bool quiet = false;
static const char *mqtt_host = NULL;	/* --mqtt: subscribe instead of reading lines */
static int	mqtt_port = 1883;
static const char *mqtt_prefix = "mekatek";
static const char *mqtt_client_id = NULL;
static const char *mqtt_user = NULL;
static const char *trace_path = NULL;
static FILE *trace = NULL;

static PGconn *conn = NULL;
static struct timespec last_connect_try;
static FILE *spool = NULL;
static long spool_sent = 0;		/* bytes of the spool already delivered */
static bool spool_pending = false;
static volatile sig_atomic_t stop_requested = 0;

static Event batch[MAX_BATCH];
static int	nbatch = 0;
static long long seq = 0;
static long long start_us;
static long long n_lines, n_events, n_local_rejects, n_skipped, n_inserted, n_dups,
			n_refused, n_spooled;
static long long line_no;
static char file_key[4096];		/* the input file's path; empty for a stream */

/* The last identical-line digests seen on a stream, for the :K suffix. */
#define RECENT 4096
static unsigned char recent[RECENT][16];
static int	nrecent;

static void
logmsg(const char *fmt,...)
{
	va_list		ap;
	char		ts[32];
	time_t		now = time(NULL);

	if (quiet)
		return;
	strftime(ts, sizeof ts, "%H:%M:%S", localtime(&now));
	fprintf(stderr, "mekatek-edge %s: ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
die(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "mekatek-edge: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static long long
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long) tv.tv_sec * 1000000 + tv.tv_usec;
}

static double
since_ms(const struct timespec *t)
{
	struct timespec n;

	clock_gettime(CLOCK_MONOTONIC, &n);
	return (n.tv_sec - t->tv_sec) * 1000.0 + (n.tv_nsec - t->tv_nsec) / 1e6;
}

/*
 * Append a record to the reject file: "# rejected: WHY", then the line
 * when it can be read back as it was (NULL: the comment carries a prefix).
 */
static void
reject_write(const char *why, const char *line, const char *prefix)
{
	FILE	   *f;

	logmsg("rejected: %s: %s", why, line ? line : prefix);
	if (reject_path == NULL)
		return;
	f = fopen(reject_path, "a");
	if (f == NULL)
		die("cannot open reject file \"%s\": %s", reject_path, strerror(errno));
	if (line)
		fprintf(f, "# rejected: %s\n%s\n", why, line);
	else
		fprintf(f, "# rejected: %s: %.80s\n", why, prefix);
	if (fclose(f) != 0)
		die("cannot write reject file \"%s\": %s", reject_path, strerror(errno));
}

/* An input line refused here. */
static void
reject(const char *why, const char *line)
{
	n_local_rejects++;
	reject_write(why, line, NULL);
}

/* An input line that cannot be written back as it was read. */
static void
reject_unreadable(const char *why, const char *prefix)
{
	n_local_rejects++;
	reject_write(why, NULL, prefix);
}

/* 128 bits of SHA-256 over the given strings, each ended by a NUL. */
static void
digest(const char *const *parts, int nparts, unsigned char out[16])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		die("cannot hash: out of memory");
	for (int i = 0; i < nparts; i++)
		EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	memcpy(out, md, 16);
}

static void
hex16(const unsigned char d[16], char *out)
{
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/*
 * The id of a line without @ID (see the header): fields are the event's
 * spool fields after the id, has_time whether the line gave its TIME.
 */
static void
derive_id(char *buf, size_t len, const char *fields, bool has_time)
{
	unsigned char d[16];
	char		hex[33];

	if (file_key[0])
	{
		char		no[32];
		const char *parts[3] = {file_key, no, fields};

		snprintf(no, sizeof no, "%lld", line_no);
		digest(parts, 3, d);
		hex16(d, hex);
		snprintf(buf, len, "%s:f:%s", edge_id, hex);
	}
	else if (has_time)
	{
		const char *parts[1] = {fields};
		int			k = 0;

		digest(parts, 1, d);
		for (int i = 0; i < nrecent && i < RECENT; i++)
			if (memcmp(recent[i], d, 16) == 0)
				k++;
		memcpy(recent[nrecent % RECENT], d, 16);
		/* Count up to RECENT, then wrap, keeping the ring full. */
		nrecent = nrecent + 1 == 2 * RECENT ? RECENT : nrecent + 1;
		hex16(d, hex);
		if (k == 0)
			snprintf(buf, len, "%s:t:%s", edge_id, hex);
		else
			snprintf(buf, len, "%s:t:%s:%d", edge_id, hex, k);
	}
	else
		snprintf(buf, len, "%s:%lld:%lld", edge_id, start_us, ++seq);
}

/* ISO 8601 UTC with microseconds, for events read without a time. */
static void
stamp_now(char *buf, size_t len)
{
	long long	us = now_us();
	time_t		s = (time_t) (us / 1000000);
	struct tm	tm;

	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), ".%06lldZ", us % 1000000);
}

/*
 * Turn an MQTT message into an event in spool form: false (after
 * rejecting it) when it is malformed.  A rejected message goes to the
 * reject file as an input line "mqtt TOPIC PAYLOAD", which -i reads back;
 * one that cannot be one line (a blank in the topic, a newline or a NUL in
 * the payload, too long) as a comment with a printable prefix.
 */
static bool
mqtt_event(const char *topic, const char *payload, size_t len, Event *ev)
{
	char		fields[EV_MAX];
	char		id[200];
	char		why[256];
	char		tsbuf[40];
	size_t		tlen = strlen(topic);
	size_t		flen;

	if (len > MAX_LINE)
		snprintf(why, sizeof why, "payload longer than %d bytes", MAX_LINE);
	else if (edge_mqtt_event(mqtt_prefix, topic, payload, len, fields, sizeof fields,
							 id, sizeof id, why, sizeof why))
	{
		flen = strlen(fields);
		/* No time: the message had an id (edge_mqtt.c), stamp the arrival. */
		if (flen >= 2 && strcmp(fields + flen - 2, "\t-") == 0)
		{
			stamp_now(tsbuf, sizeof tsbuf);
			snprintf(fields + flen - 1, sizeof fields - flen + 1, "%s", tsbuf);
		}
		if (id[0] == '\0')
		{
			unsigned char d[16];
			const char *parts[1] = {fields};

			digest(parts, 1, d);
			memcpy(id, "mqtt:", 5);
			hex16(d, id + 5);
		}
		if (snprintf(ev->text, sizeof ev->text, "%s\t%s", id, fields) < (int) sizeof ev->text)
			return true;
		snprintf(why, sizeof why, "event too long");
	}
	{
		char		line[MAX_LINE + 1];
		bool		one_line = tlen + len + 6 <= MAX_LINE && topic[strcspn(topic, " \t\r\n")] == '\0' &&
			memchr(payload, '\n', len) == NULL && memchr(payload, '\r', len) == NULL &&
			memchr(payload, '\0', len) == NULL;

		snprintf(line, sizeof line, "mqtt %s %.*s", topic, (int) (len > MAX_LINE ? MAX_LINE : len), payload);
		if (one_line)
			reject(why, line);
		else
		{
			for (char *p = line; *p; p++)
				if ((unsigned char) *p < ' ' || *p == 0x7f)
					*p = '?';
			reject_unreadable(why, line);
		}
	}
	return false;
}

/*
 * Turn an input line into an event in spool form ("ID\tKIND\tF1..F4\tTIME"):
 * false (after rejecting it) when it cannot be an event.
 */
static bool
parse_input(const char *line, Event *ev)
{
	char		copy[MAX_LINE + 1];
	char	   *tok[8];
	int			ntok = 0;
	char	   *save = NULL;
	char		idbuf[200];
	char		tsbuf[40];
	char		fields[EV_MAX];
	const char *id = NULL,
			   *n = "1",
			   *ts;
	int			k = 0;
	int			len = 0;

	snprintf(copy, sizeof copy, "%s", line);
	if (copy[strspn(copy, " \t\r")] == '#')
	{
		n_skipped++;			/* a comment, however many words */
		return false;
	}
	{
		/* "mqtt TOPIC PAYLOAD": a message as the reject file keeps it. */
		const char *p = line + strspn(line, " \t");

		if (strncmp(p, "mqtt", 4) == 0 && (p[4] == ' ' || p[4] == '\t'))
		{
			char		topic[MAX_LINE + 1];
			size_t		tl,
						pl;

			p += 4;
			p += strspn(p, " \t");
			tl = strcspn(p, " \t");
			memcpy(topic, p, tl);
			topic[tl] = '\0';
			p += tl;
			p += strspn(p, " \t");
			pl = strlen(p);
			while (pl > 0 && p[pl - 1] == '\r')
				pl--;
			return mqtt_event(topic, p, pl, ev);
		}
	}
	for (char *t = strtok_r(copy, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save))
	{
		if (ntok == 8)
		{
			reject("too many fields", line);
			return false;
		}
		tok[ntok++] = t;
	}
	if (ntok == 0 || tok[0][0] == '#')
	{
		n_skipped++;			/* blank or comment */
		return false;
	}
	if (tok[0][0] == '@')
	{
		if (tok[0][1] == '\0' || strlen(tok[0]) > 150)
		{
			reject("event id must be 1 to 149 characters after '@'", line);
			return false;
		}
		id = tok[0] + 1;
		k = 1;
	}
	if (ntok - k < 1)
	{
		reject("no event kind", line);
		return false;
	}
	stamp_now(tsbuf, sizeof tsbuf);
	ts = tsbuf;
	if (strcmp(tok[k], "visitor") == 0)
	{
		int			rest = ntok - k - 1;
		char	   *end;
		long		v;

		if (rest < 3 || rest > 5)
		{
			reject("visitor needs CAMERA ROOM in|out [N] [TIME]", line);
			return false;
		}
		if (strcmp(tok[k + 3], "in") != 0 && strcmp(tok[k + 3], "out") != 0)
		{
			reject("direction must be in or out", line);
			return false;
		}
		if (rest >= 4)
		{
			errno = 0;
			v = strtol(tok[k + 4], &end, 10);
			if (*end != '\0' || errno || v < 1 || v > 10000)
			{
				if (rest == 4 && strchr(tok[k + 4], '-'))
					ts = tok[k + 4];	/* [TIME] without [N] */
				else
				{
					reject("N must be an integer from 1 to 10000", line);
					return false;
				}
			}
			else
				n = tok[k + 4];
		}
		if (rest == 5)
			ts = tok[k + 5];
		len = snprintf(fields, sizeof fields, "visitor\t%s\t%s\t%s\t%s\t%s",
					   tok[k + 1], tok[k + 2], tok[k + 3], n, ts);
	}
	else if (strcmp(tok[k], "rfid") == 0)
	{
		int			rest = ntok - k - 1;

		if (rest < 3 || rest > 4)
		{
			reject("rfid needs SCANNER UID LAB [TIME]", line);
			return false;
		}
		if (rest == 4)
			ts = tok[k + 4];
		len = snprintf(fields, sizeof fields, "rfid\t%s\t%s\t%s\t-\t%s",
					   tok[k + 1], tok[k + 2], tok[k + 3], ts);
	}
	else
	{
		reject("kind must be visitor or rfid", line);
		return false;
	}
	if (id == NULL && len < (int) sizeof fields)
	{
		derive_id(idbuf, sizeof idbuf, fields, ts != tsbuf);
		id = idbuf;
	}
	if (len >= (int) sizeof fields ||
		snprintf(ev->text, sizeof ev->text, "%s\t%s", id, fields) >= (int) sizeof ev->text)
	{
		reject("event too long", line);
		return false;
	}
	return true;
}

/* Split a spool-form text into its fields (in place). */
static bool
split_event(Event *ev)
{
	char	   *p = ev->text;

	for (int i = 0; i < NFIELDS; i++)
	{
		ev->f[i] = p;
		p = strchr(p, '\t');
		if (i < NFIELDS - 1)
		{
			if (p == NULL)
				return false;
			*p++ = '\0';
		}
	}
	return p == NULL;
}

static void
join_event(const Event *ev, char *out, size_t len)
{
	snprintf(out, len, "%s\t%s\t%s\t%s\t%s\t%s\t%s", ev->f[0], ev->f[1], ev->f[2],
			 ev->f[3], ev->f[4], ev->f[5], ev->f[6]);
}

static bool
connect_db(void)
{
	const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *vals[] = {"3", "mekatek-edge", conninfo, NULL};

	if (conn && PQstatus(conn) == CONNECTION_OK)
		return true;
	/* One attempt per second at most while the server is away. */
	if (last_connect_try.tv_sec != 0 && since_ms(&last_connect_try) < 1000)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &last_connect_try);
	if (conn)
		PQfinish(conn);
	conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		logmsg("database unreachable: %s", PQerrorMessage(conn));
		PQfinish(conn);
		conn = NULL;
		return false;
	}
	logmsg("connected");
	return true;
}

/*
 * Server errors that a later attempt may not repeat: the connection, the
 * server going away or starting up, resources, serialisation.  Anything
 * else is the data's fault.
 */
static bool
transient(PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK || state == NULL)
		return true;
	return strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
		strncmp(state, "53", 2) == 0 || strncmp(state, "40", 2) == 0;
}

static bool
exec_ok(const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	PQclear(res);
	return ok;
}

/*
 * One INSERT for the events of one kind among evs[0..n).  Returns the
 * result (caller clears) or NULL when there were none.
 */
static PGresult *
insert_kind(Event **evs, int n, const char *kind, long long *inserted)
{
	static char sql[MAX_BATCH * 64 + 256];
	static const char *params[MAX_BATCH * 6];
	bool		visitor = strcmp(kind, "visitor") == 0;
	int			np = 0,
				rows = 0;
	size_t		len;
	PGresult   *res;

	len = snprintf(sql, sizeof sql, visitor
				   ? "INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction, n, seen_at) VALUES "
				   : "INSERT INTO mekatek.rfid_scan(event_id, scanner, uid, lab, scanned_at) VALUES ");
	for (int i = 0; i < n; i++)
	{
		Event	   *ev = evs[i];

		if (strcmp(ev->f[1], kind) != 0)
			continue;
		if (visitor)
		{
			len += snprintf(sql + len, sizeof sql - len, "%s($%d,$%d,$%d,$%d,$%d::int,$%d::timestamptz)",
							rows ? "," : "", np + 1, np + 2, np + 3, np + 4, np + 5, np + 6);
			for (int f = 0; f < 6; f++)
				params[np++] = ev->f[f == 0 ? 0 : f + 1];
		}
		else
		{
			len += snprintf(sql + len, sizeof sql - len, "%s($%d,$%d,$%d,$%d,$%d::timestamptz)",
							rows ? "," : "", np + 1, np + 2, np + 3, np + 4, np + 5);
			params[np++] = ev->f[0];
			params[np++] = ev->f[2];
			params[np++] = ev->f[3];
			params[np++] = ev->f[4];
			params[np++] = ev->f[6];
		}
		rows++;
	}
	if (rows == 0)
		return NULL;
	/* No arbiter: naming (event_id) would need SELECT, which devices lack. */
	snprintf(sql + len, sizeof sql - len, " ON CONFLICT DO NOTHING");
	res = PQexecParams(conn, sql, np, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
	{
		long long	got = atoll(PQcmdTuples(res));

		*inserted += got;
		n_dups += rows - got;
	}
	return res;
}

/*
 * Send evs[0..n) in one transaction.  Returns how many of them, from the
 * front, are settled (inserted, found already there, or rejected as bad
 * data); fewer than n means the database went away.  A batch of one kind
 * (the usual one) is a single INSERT, atomic by itself: it is sent
 * without BEGIN and COMMIT, one round trip instead of three, which on a
 * busy machine is most of what a batch waits for.
 */
static int
send_events(Event **evs, int n)
{
	const char *kinds[] = {"visitor", "rfid"};
	long long	inserted = 0;
	bool		mixed = false;

	if (n == 0)
		return 0;
	for (int i = 1; i < n && !mixed; i++)
		mixed = strcmp(evs[i]->f[1], evs[0]->f[1]) != 0;
	if (!connect_db() || (mixed && !exec_ok("BEGIN")))
		return 0;
	for (int k = 0; k < 2; k++)
	{
		PGresult   *res = insert_kind(evs, n, kinds[k], &inserted);
		char		why[512];
		int			done = 0;

		if (res == NULL || PQresultStatus(res) == PGRES_COMMAND_OK)
		{
			PQclear(res);
			continue;
		}
		if (transient(res))
		{
			PQclear(res);
			return 0;
		}
		snprintf(why, sizeof why, "%s", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
				 ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : PQresultErrorMessage(res));
		why[strcspn(why, "\n")] = '\0';
		PQclear(res);
		if (mixed)
			exec_ok("ROLLBACK");
		if (n == 1)
		{
			char		line[EV_MAX + 16];
			const Event *e = evs[0];

			/* Back to an input line, with its id, for the reject file. */
			if (strcmp(e->f[1], "visitor") == 0)
				snprintf(line, sizeof line, "@%s visitor %s %s %s %s %s",
						 e->f[0], e->f[2], e->f[3], e->f[4], e->f[5], e->f[6]);
			else
				snprintf(line, sizeof line, "@%s rfid %s %s %s %s",
						 e->f[0], e->f[2], e->f[3], e->f[4], e->f[6]);
			n_refused++;
			reject_write(why, line, NULL);
			return 1;
		}
		/* Bad data somewhere: one by one, so that only the bad ones are rejected. */
		while (done < n && send_events(&evs[done], 1) == 1)
			done++;
		return done;
	}
	if (mixed && !exec_ok("COMMIT"))
		return 0;				/* outcome unknown: a resend is harmless */
	n_inserted += inserted;
	if (trace)
	{
		long long	at = now_us();

		/* Settled, whether inserted now or found there (the bench's clock). */
		for (int i = 0; i < n; i++)
			fprintf(trace, "%s\t%lld\n", evs[i]->f[0], at);
	}
	return n;
}

static void
spool_sync(void)
{
	if (fflush(spool) != 0 || fdatasync(fileno(spool)) != 0)
		die("cannot write spool \"%s\": %s", spool_path, strerror(errno));
}

static void
spool_append(Event *ev)
{
	char		line[EV_MAX];

	join_event(ev, line, sizeof line);
	if (fprintf(spool, "%s\n", line) < 0)
		die("cannot write spool \"%s\": %s", spool_path, strerror(errno));
	n_spooled++;
	spool_pending = true;
}

/* Deliver the batch, or spool it. */
static void
flush_batch(void)
{
	Event	   *evs[MAX_BATCH];
	int			done = 0;

	if (nbatch == 0)
		return;
	for (int i = 0; i < nbatch; i++)
		evs[i] = &batch[i];
	if (!spool_pending)
	{
		done = send_events(evs, nbatch);
		if (done == nbatch)
		{
			nbatch = 0;
			return;
		}
		logmsg("spooling to %s", spool_path);
	}
	for (int i = done; i < nbatch; i++)
		spool_append(evs[i]);
	spool_sync();
	nbatch = 0;
}

/*
 * Replay the spool from where the last replay stopped.  Returns true when
 * it is empty again.
 */
static bool
drain_spool(void)
{
	FILE	   *in;
	static Event chunk[MAX_BATCH];
	Event	   *evs[MAX_BATCH];
	char		line[EV_MAX + 2];
	int			n = 0;
	long		offsets[MAX_BATCH + 1];

	if (!spool_pending)
		return true;
	if (!connect_db())
		return false;
	spool_sync();
	in = fopen(spool_path, "r");
	if (in == NULL || fseek(in, spool_sent, SEEK_SET) != 0)
		die("cannot read spool \"%s\": %s", spool_path, strerror(errno));
	logmsg("replaying spool from byte %ld", spool_sent);
	/* offsets[i]: where event i of the chunk starts; offsets[n]: where the next does. */
	offsets[0] = spool_sent;
	for (;;)
	{
		bool		eof = fgets(line, sizeof line, in) == NULL;

		if (!eof)
		{
			bool		corrupt;

			line[strcspn(line, "\n")] = '\0';
			corrupt = strlen(line) >= sizeof chunk[n].text;
			if (!corrupt)
			{
				memcpy(chunk[n].text, line, strlen(line) + 1);
				corrupt = !split_event(&chunk[n]);
			}
			if (corrupt)
			{
				reject_unreadable("corrupt spool line", line);
				offsets[n] = ftell(in);
				if (n == 0)
					spool_sent = offsets[0];
				continue;
			}
			evs[n] = &chunk[n];
			n++;
			offsets[n] = ftell(in);
		}
		if (n == batch_max || (eof && n > 0))
		{
			int			done = send_events(evs, n);

			if (done < n)
			{
				/* Keep what is not known delivered. */
				spool_sent = offsets[done];
				fclose(in);
				logmsg("database lost during replay; %ld bytes of spool delivered", spool_sent);
				return false;
			}
			spool_sent = offsets[n];
			n = 0;
			offsets[0] = spool_sent;
		}
		if (eof)
			break;
		if (stop_requested)
		{
			fclose(in);
			return false;
		}
	}
	fclose(in);
	/* Everything is in: empty the spool. */
	if (ftruncate(fileno(spool), 0) != 0)
		die("cannot truncate spool \"%s\": %s", spool_path, strerror(errno));
	rewind(spool);
	spool_sent = 0;
	spool_pending = false;
	logmsg("spool replayed");
	return true;
}

static void
on_signal(int sig)
{
	(void) sig;
	stop_requested = 1;
}

static int
open_input(void)
{
	int			fd;
	struct termios tio;
	speed_t		sp;

	if (input_path == NULL || strcmp(input_path, "-") == 0)
		return STDIN_FILENO;
	fd = open(input_path, O_RDONLY | O_NOCTTY);
	if (fd < 0)
		die("cannot open input \"%s\": %s", input_path, strerror(errno));
	{
		struct stat st;

		/* A regular file can be read again: its lines are numbered. */
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && realpath(input_path, file_key) == NULL)
			file_key[0] = '\0';
	}
	if (isatty(fd))
	{
		switch (baud)
		{
			case 9600: sp = B9600; break;
			case 19200: sp = B19200; break;
			case 38400: sp = B38400; break;
			case 57600: sp = B57600; break;
			case 115200: sp = B115200; break;
			case 230400: sp = B230400; break;
			default: die("unsupported baud rate %d", baud);
		}
		if (tcgetattr(fd, &tio) != 0)
			die("cannot configure \"%s\": %s", input_path, strerror(errno));
		cfmakeraw(&tio);
		tio.c_cflag |= CLOCAL | CREAD;
		cfsetispeed(&tio, sp);
		cfsetospeed(&tio, sp);
		if (tcsetattr(fd, TCSANOW, &tio) != 0)
			die("cannot configure \"%s\": %s", input_path, strerror(errno));
	}
	return fd;
}

/*
 * MQTT: events arrive through on_message into the same batch as lines
 * do, and leave it the same way (flush_batch: inserted, or spooled when
 * the database is away).
 */
static struct timespec mqtt_batch_started;
static bool mqtt_connected = false;

static void
on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	char		pattern[512];
	(void) obj;

	if (rc != 0)
	{
		logmsg("MQTT broker refused the connection: %s", mosquitto_connack_string(rc));
		return;
	}
	/* Everything under the prefix: a message on a wrong topic is rejected, not ignored. */
	snprintf(pattern, sizeof pattern, "%s/#", mqtt_prefix);
	rc = mosquitto_subscribe(mosq, NULL, pattern, 1);
	if (rc != MOSQ_ERR_SUCCESS)
		logmsg("cannot subscribe to %s: %s", pattern, mosquitto_strerror(rc));
	else
		logmsg("MQTT connected, subscribed to %s (QoS 1)", pattern);
	mqtt_connected = true;
}

static void
on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	(void) mosq;
	(void) obj;
	if (mqtt_connected)
		logmsg("MQTT connection lost (%s)", rc ? mosquitto_strerror(rc) : "asked");
	mqtt_connected = false;
}

static void
on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
	(void) mosq;
	(void) obj;
	n_lines++;
	if (!mqtt_event(msg->topic, msg->payload ? (const char *) msg->payload : "",
					msg->payloadlen > 0 ? (size_t) msg->payloadlen : 0, &batch[nbatch]) ||
		!split_event(&batch[nbatch]))
		return;
	n_events++;
	if (nbatch++ == 0)
		clock_gettime(CLOCK_MONOTONIC, &mqtt_batch_started);
	if (nbatch == batch_max)
		flush_batch();
}

static void
run_mqtt(void)
{
	struct mosquitto *mosq;
	char		id[160];
	struct timespec last_try;
	int			rc;

	mosquitto_lib_init();
	if (mqtt_client_id == NULL)
	{
		snprintf(id, sizeof id, "mekatek-edge-%s", edge_id);
		mqtt_client_id = id;
	}
	/*
	 * clean_session false: the broker keeps the subscription and queues
	 * QoS 1 messages while this edge is away (up to its
	 * max_queued_messages), and hands them over when it is back.
	 */
	mosq = mosquitto_new(mqtt_client_id, false, NULL);
	if (mosq == NULL)
		die("cannot create the MQTT client: %s", strerror(errno));
	if (mqtt_user)
	{
		/* The password from the environment, never the command line (ps shows that). */
		rc = mosquitto_username_pw_set(mosq, mqtt_user, getenv("MEKATEK_MQTT_PASSWORD"));
		if (rc != MOSQ_ERR_SUCCESS)
			die("MQTT credentials: %s", mosquitto_strerror(rc));
	}
	mosquitto_connect_callback_set(mosq, on_connect);
	mosquitto_disconnect_callback_set(mosq, on_disconnect);
	mosquitto_message_callback_set(mosq, on_message);
	clock_gettime(CLOCK_MONOTONIC, &last_try);
	rc = mosquitto_connect(mosq, mqtt_host, mqtt_port, 30);
	if (rc != MOSQ_ERR_SUCCESS)
		logmsg("MQTT broker %s:%d unreachable: %s", mqtt_host, mqtt_port,
			   rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
	while (!stop_requested)
	{
		int			timeout = 200;

		if (nbatch > 0)
		{
			double		left = flush_ms - since_ms(&mqtt_batch_started);

			timeout = left < 1 ? 1 : (int) left;
		}
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_loop(mosq, timeout, 1);
		else
		{
			usleep(timeout * 1000);
			/* One reconnection attempt per second while the broker is away. */
			if (since_ms(&last_try) >= 1000)
			{
				clock_gettime(CLOCK_MONOTONIC, &last_try);
				rc = mosquitto_reconnect(mosq);
			}
		}
		if (nbatch > 0 && since_ms(&mqtt_batch_started) >= flush_ms)
			flush_batch();
		if (spool_pending && nbatch == 0)
			drain_spool();
	}
	/* Stopping: what arrived is delivered or spooled before we go. */
	flush_batch();
	mosquitto_disconnect(mosq);
	mosquitto_destroy(mosq);
	mosquitto_lib_cleanup();
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: mekatek-edge [options]\n"
			"  -d, --db CONNINFO     connection string (default: PG* environment)\n"
			"  -i, --input PATH      event lines from PATH, e.g. /dev/ttyUSB0 (default stdin)\n"
			"      --baud N          serial speed when PATH is a terminal (default 115200)\n"
			"  -s, --spool PATH      spool file (default ./mekatek-edge.spool)\n"
			"  -r, --rejects PATH    where refused lines go, with the reason\n"
			"  -e, --edge-id ID      prefix of generated event ids (default host name)\n"
			"  -b, --batch N         events per INSERT (default 200, at most %d)\n"
			"  -f, --flush-ms N      send a partial batch after N ms (default 200)\n"
			"  -w, --wait S          at end of input, retry the spool for S seconds (default: forever)\n"
			"  -q, --quiet\n"
			"  -m, --mqtt HOST[:PORT]  subscribe to PREFIX/# on this broker (QoS 1) instead of reading lines\n"
			"      --mqtt-prefix P   topic prefix (default mekatek)\n"
			"      --mqtt-client-id ID  persistent session name (default mekatek-edge-EDGEID)\n"
			"      --mqtt-user USER  password from the environment: MEKATEK_MQTT_PASSWORD\n"
			"      --trace PATH      append \"ID<TAB>epoch microseconds\" per event at its COMMIT\n"
			"lines: [@ID] visitor CAMERA ROOM in|out [N] [TIME]\n"
			"       [@ID] rfid SCANNER UID LAB [TIME]\n"
			"       mqtt TOPIC PAYLOAD  (a message, as the reject file keeps it)\n", MAX_BATCH);
	exit(1);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'}, {"input", required_argument, NULL, 'i'},
		{"baud", required_argument, NULL, 'B'}, {"spool", required_argument, NULL, 's'},
		{"rejects", required_argument, NULL, 'r'}, {"edge-id", required_argument, NULL, 'e'},
		{"batch", required_argument, NULL, 'b'}, {"flush-ms", required_argument, NULL, 'f'},
		{"wait", required_argument, NULL, 'w'}, {"quiet", no_argument, NULL, 'q'},
		{"mqtt", required_argument, NULL, 'm'}, {"mqtt-prefix", required_argument, NULL, 'P'},
		{"mqtt-client-id", required_argument, NULL, 'C'}, {"mqtt-user", required_argument, NULL, 'U'},
		{"trace", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}
	};
	int			c,
				fd,
				spool_fd;
	char		buf[8192];
	char		line[MAX_LINE + 1];
	size_t		linelen = 0;
	bool		overlong = false,
				hasnul = false,
				eof = false;
	struct timespec batch_started = {0},
				eof_at = {0};
	struct sigaction sa;

	gethostname(edge_id, sizeof edge_id - 1);
	while ((c = getopt_long(argc, argv, "d:i:s:r:e:b:f:w:qhm:", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd': conninfo = optarg; break;
			case 'i': input_path = optarg; break;
			case 'B': baud = atoi(optarg); break;
			case 's': spool_path = optarg; break;
			case 'r': reject_path = optarg; break;
			case 'e':
				if (strlen(optarg) < 1 || strlen(optarg) > 64)
					die("--edge-id must be 1 to 64 characters");
				snprintf(edge_id, sizeof edge_id, "%s", optarg);
				break;
			case 'b': batch_max = atoi(optarg); break;
			case 'f': flush_ms = atoi(optarg); break;
			case 'w': wait_s = atoi(optarg); break;
			case 'q': quiet = true; break;
			case 'm':
				{
					char	   *colon = strrchr(optarg, ':');

					mqtt_host = optarg;
					if (colon)
					{
						*colon = '\0';
						mqtt_port = atoi(colon + 1);
						if (mqtt_port < 1 || mqtt_port > 65535)
							die("--mqtt: bad port \"%s\"", colon + 1);
					}
				}
				break;
			case 'P':
				if (strlen(optarg) < 1 || strlen(optarg) > 200 || strpbrk(optarg, "#+"))
					die("--mqtt-prefix must be 1 to 200 characters without '#' or '+'");
				mqtt_prefix = optarg;
				break;
			case 'C': mqtt_client_id = optarg; break;
			case 'U': mqtt_user = optarg; break;
			case 'T': trace_path = optarg; break;
			default: usage();
		}
	}
	if (optind != argc || batch_max < 1 || batch_max > MAX_BATCH || flush_ms < 1 ||
		(mqtt_host && input_path))
		usage();
	if (trace_path && (trace = fopen(trace_path, "a")) == NULL)
		die("cannot open trace \"%s\": %s", trace_path, strerror(errno));
	start_us = now_us();

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The spool: one edge per file, and whatever a previous run left goes first. */
	spool_fd = open(spool_path, O_RDWR | O_CREAT | O_APPEND, 0600);
	if (spool_fd < 0 || (spool = fdopen(spool_fd, "a+")) == NULL)
		die("cannot open spool \"%s\": %s", spool_path, strerror(errno));
	if (flock(spool_fd, LOCK_EX | LOCK_NB) != 0)
		die("spool \"%s\" is in use by another mekatek-edge", spool_path);
	fseek(spool, 0, SEEK_END);
	if (ftell(spool) > 0)
	{
		spool_pending = true;
		logmsg("spool %s holds %ld bytes from a previous run", spool_path, ftell(spool));
	}
	fd = mqtt_host ? -1 : open_input();

	if (mqtt_host)
		run_mqtt();
	while (!stop_requested && !mqtt_host)
	{
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int			timeout = 1000;

		if (nbatch > 0)
		{
			double		left = flush_ms - since_ms(&batch_started);

			timeout = left < 0 ? 0 : (int) left;
		}
		if (eof)
		{
			flush_batch();
			if (drain_spool())
				break;
			if (wait_s >= 0 && since_ms(&eof_at) > wait_s * 1000.0)
				break;
			usleep(200 * 1000);
			continue;
		}
		if (poll(&pfd, 1, timeout) > 0)
		{
			ssize_t		got = read(fd, buf, sizeof buf);

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
			{
				eof = true;
				clock_gettime(CLOCK_MONOTONIC, &eof_at);
				/* A last line without its newline. */
				line[linelen] = '\0';
				if (linelen > 0 || overlong || hasnul)
				{
					n_lines++;
					line_no++;
				}
				if (overlong)
					reject_unreadable("line longer than 1024 bytes", line);
				else if (hasnul)
					reject_unreadable("NUL byte in line", line);
				else if (linelen > 0 && parse_input(line, &batch[nbatch]) &&
						 split_event(&batch[nbatch]))
				{
					n_events++;
					nbatch++;
				}
				continue;
			}
			for (ssize_t i = 0; i < got; i++)
			{
				if (buf[i] != '\n')
				{
					if (buf[i] == '\0')
						hasnul = true;
					else if (linelen < MAX_LINE)
						line[linelen++] = buf[i];
					else
						overlong = true;
					continue;
				}
				line[linelen] = '\0';
				n_lines++;
				line_no++;
				if (overlong)
					reject_unreadable("line longer than 1024 bytes", line);
				else if (hasnul)
					reject_unreadable("NUL byte in line", line);
				else if (parse_input(line, &batch[nbatch]) && split_event(&batch[nbatch]))
				{
					n_events++;
					if (nbatch++ == 0)
						clock_gettime(CLOCK_MONOTONIC, &batch_started);
					if (nbatch == batch_max)
						flush_batch();
				}
				linelen = 0;
				overlong = false;
				hasnul = false;
			}
		}
		if (nbatch > 0 && since_ms(&batch_started) >= flush_ms)
			flush_batch();
		if (spool_pending && nbatch == 0)
			drain_spool();
	}
	/* Stopping: what is not delivered is in the spool. */
	flush_batch();
	if (spool_pending)
		spool_sync();
	logmsg("%s %lld: events %lld, rejected %lld, blank or comment %lld; "
		   "events: inserted %lld, duplicates %lld, refused by the server %lld, spooled %lld%s",
		   mqtt_host ? "messages" : "lines", n_lines, n_events, n_local_rejects, n_skipped,
		   n_inserted, n_dups, n_refused, n_spooled,
		   spool_pending ? " (spool not empty)" : "");
	if (conn)
		PQfinish(conn);
	if (trace && fclose(trace) != 0)
		die("cannot write trace \"%s\": %s", trace_path, strerror(errno));
	return spool_pending ? 2 : 0;
}
