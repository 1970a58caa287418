/*
 * mekatek-chat: the bridge between a chat bot and the ledger.
 *
 * Ingest mode (default): reads message events as JSON lines, one object a
 * line with the fields of mekatek.chat_ingest
 *   {"source": "wa", "message_id": "...", "group_id": "...", "sender": "...",
 *    "sent_at": "2026-12-01T09:00:00+07:00", "body": "done 2 x 50000",
 *    "edited_of": null, "revoked": false, "quoted_id": null}
 * from stdin or -f FILE, calls chat_ingest for each, and writes the answer
 * as a JSON line on stdout:
 *   {"source": ..., "message_id": ..., "group_id": ..., "outcome": ...,
 *    "reply": ..., "unpaid": ...}
 * A line that is not such an object is reported on stderr (with its line
 * number) and skipped.  When the connection fails the same message is sent
 * again after reconnecting: chat_ingest is idempotent on (source,
 * message_id), so a retry can never book twice.
 *
 * Outbox mode (-O): LISTENs on mekatek_outbox, claims the replies of
 * channel "ledger" (mekatek.outbox_claim) until a claim returns
 * nothing, writes each payload as a JSON line with its outbox_id, flushes,
 * then marks them delivered.  chat_ingest notifies only when no other
 * reply waits unclaimed, so claiming until empty before waiting is what
 * makes every reply go out.  With -1 it drains once and exits.
 *
 * JSON is parsed and printed with json-c, never by hand.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpq-fe.h>

static const char *conninfo = "";
static int	wait_seconds = 60;

static void
usage(void)
{
	fprintf(stderr,
			"usage: mekatek-chat -d CONNINFO [-f FILE] [-w SECONDS]   ingest JSON lines\n"
			"       mekatek-chat -d CONNINFO -O [-1]                  deliver outbox replies\n");
	exit(2);
}

/* Connect, retrying for up to wait_seconds. */
static PGconn *
connect_db(void)
{
	for (int waited = 0;; waited++)
	{
		PGconn	   *c = PQconnectdb(conninfo);

		if (PQstatus(c) == CONNECTION_OK)
			return c;
		if (waited >= wait_seconds)
		{
			fprintf(stderr, "mekatek-chat: cannot connect: %s", PQerrorMessage(c));
			exit(1);
		}
		PQfinish(c);
		sleep(1);
	}
}

static const char *
field(json_object *o, const char *key, int required, int lineno, int *bad)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
	{
		if (required)
		{
			fprintf(stderr, "mekatek-chat: line %d: \"%s\" is missing\n", lineno, key);
			*bad = 1;
		}
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string))
	{
		fprintf(stderr, "mekatek-chat: line %d: \"%s\" must be a string\n", lineno, key);
		*bad = 1;
		return NULL;
	}
	return json_object_get_string(v);
}

static int
ingest(FILE *in)
{
	PGconn	   *conn = connect_db();
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;
	int			lineno = 0,
				failures = 0;
	const char *sql =
		"SELECT outcome, reply, unpaid FROM mekatek.chat_ingest($1, $2, $3, $4, $5::timestamptz, $6, $7, $8::boolean, $9)";

	while ((n = getline(&line, &cap, in)) != -1)
	{
		json_object *o,
				   *v,
				   *out;
		const char *p[9];
		int			bad = 0;
		PGresult   *r;

		lineno++;
		if (n <= 1 && (n == 0 || line[0] == '\n'))
			continue;
		o = json_tokener_parse(line);
		if (o == NULL || !json_object_is_type(o, json_type_object))
		{
			fprintf(stderr, "mekatek-chat: line %d: not a JSON object\n", lineno);
			failures++;
			json_object_put(o);
			continue;
		}
		p[0] = field(o, "source", 1, lineno, &bad);
		p[1] = field(o, "message_id", 1, lineno, &bad);
		p[2] = field(o, "group_id", 1, lineno, &bad);
		p[3] = field(o, "sender", 1, lineno, &bad);
		p[4] = field(o, "sent_at", 1, lineno, &bad);
		p[5] = field(o, "body", 1, lineno, &bad);
		p[6] = field(o, "edited_of", 0, lineno, &bad);
		p[7] = "false";
		if (json_object_object_get_ex(o, "revoked", &v) && !json_object_is_type(v, json_type_null))
		{
			if (!json_object_is_type(v, json_type_boolean))
			{
				fprintf(stderr, "mekatek-chat: line %d: \"revoked\" must be true or false\n", lineno);
				bad = 1;
			}
			else if (json_object_get_boolean(v))
				p[7] = "true";
		}
		p[8] = field(o, "quoted_id", 0, lineno, &bad);
		if (bad)
		{
			failures++;
			json_object_put(o);
			continue;
		}

		for (;;)
		{
			r = PQexecParams(conn, sql, 9, NULL, p, NULL, NULL, 0);
			if (PQresultStatus(r) == PGRES_TUPLES_OK || PQstatus(conn) == CONNECTION_OK)
				break;
			/* the server went away: the same message again, it is idempotent */
			PQclear(r);
			PQfinish(conn);
			conn = connect_db();
		}
		out = json_object_new_object();
		json_object_object_add(out, "source", json_object_new_string(p[0]));
		json_object_object_add(out, "message_id", json_object_new_string(p[1]));
		json_object_object_add(out, "group_id", json_object_new_string(p[2]));
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
		{
			json_object_object_add(out, "outcome", json_object_new_string(PQgetvalue(r, 0, 0)));
			json_object_object_add(out, "reply", PQgetisnull(r, 0, 1) ? NULL
								   : json_object_new_string(PQgetvalue(r, 0, 1)));
			json_object_object_add(out, "unpaid", PQgetisnull(r, 0, 2) ? NULL
								   : json_object_new_int64(strtoll(PQgetvalue(r, 0, 2), NULL, 10)));
		}
		else
		{
			/* a bad value (e.g. sent_at): the database's message, then on */
			const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

			json_object_object_add(out, "error", json_object_new_string(msg ? msg : PQerrorMessage(conn)));
			failures++;
		}
		puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
		fflush(stdout);
		json_object_put(out);
		json_object_put(o);
		PQclear(r);
	}
	free(line);
	PQfinish(conn);
	return failures > 0 ? 1 : 0;
}

/* Claim, print, mark: a reply is marked only after it is written out. */
static int
drain(PGconn *conn)
{
	PGresult   *r = PQexec(conn, "SELECT outbox_id, payload::text FROM mekatek.outbox_claim('ledger', 100)");
	int			n;
	PGresult   *d;
	char	   *ids;
	size_t		len = 2;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "mekatek-chat: outbox_claim: %s", PQerrorMessage(conn));
		exit(1);
	}
	n = PQntuples(r);
	for (int i = 0; i < n; i++)
		len += strlen(PQgetvalue(r, i, 0)) + 1;
	ids = malloc(len + 1);
	strcpy(ids, "{");
	for (int i = 0; i < n; i++)
	{
		json_object *o = json_tokener_parse(PQgetvalue(r, i, 1));

		json_object_object_add(o, "outbox_id", json_object_new_int64(strtoll(PQgetvalue(r, i, 0), NULL, 10)));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		if (i > 0)
			strcat(ids, ",");
		strcat(ids, PQgetvalue(r, i, 0));
	}
	strcat(ids, "}");
	fflush(stdout);
	if (n > 0)
	{
		const char *p[1] = {ids};

		d = PQexecParams(conn, "SELECT mekatek.outbox_delivered($1::bigint[])", 1, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(d) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "mekatek-chat: outbox_delivered: %s", PQerrorMessage(conn));
			exit(1);
		}
		PQclear(d);
	}
	free(ids);
	PQclear(r);
	return n;
}

static int
deliver(int once)
{
	PGconn	   *conn = connect_db();

	PQclear(PQexec(conn, "LISTEN mekatek_outbox"));
	for (;;)
	{
		struct pollfd pfd;
		PGnotify   *note;

		while (drain(conn) > 0)
			;
		if (once)
			break;

		/*
		 * A notification that arrived while a claim ran was read with its
		 * result and is queued in libpq, not on the socket: poll() would
		 * sleep through it (the reply it announces came after that claim's
		 * snapshot).  Claim again instead.
		 */
		if ((note = PQnotifies(conn)) != NULL)
		{
			do
				PQfreemem(note);
			while ((note = PQnotifies(conn)) != NULL);
			continue;
		}
		pfd.fd = PQsocket(conn);
		pfd.events = POLLIN;
		/* a timeout too: a claim whose deliverer died is due again after its lease */
		if (poll(&pfd, 1, 30000) < 0 && errno != EINTR)
			break;
		PQconsumeInput(conn);
		while ((note = PQnotifies(conn)) != NULL)
			PQfreemem(note);
		if (PQstatus(conn) != CONNECTION_OK)
		{
			PQfinish(conn);
			conn = connect_db();
			PQclear(PQexec(conn, "LISTEN mekatek_outbox"));
		}
	}
	PQfinish(conn);
	return 0;
}

int
main(int argc, char **argv)
{
	int			c,
				outbox = 0,
				once = 0;
	FILE	   *in = stdin;

	while ((c = getopt(argc, argv, "d:f:w:O1")) != -1)
	{
		switch (c)
		{
			case 'd':
				conninfo = optarg;
				break;
			case 'f':
				in = fopen(optarg, "r");
				if (in == NULL)
				{
					fprintf(stderr, "mekatek-chat: %s: %s\n", optarg, strerror(errno));
					return 2;
				}
				break;
			case 'w':
				wait_seconds = atoi(optarg);
				break;
			case 'O':
				outbox = 1;
				break;
			case '1':
				once = 1;
				break;
			default:
				usage();
		}
	}
	return outbox ? deliver(once) : ingest(in);
}
