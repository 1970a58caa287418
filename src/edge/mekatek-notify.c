/*
 * mekatek-notify: deliver Mekatek's device notifications to a chat.
 *
 * Reads mekatek.outbox (the durable copy of every capacity alert, door
 * refusal or announced grant, flagged scan and lab state change), claims
 * the rows of its channels oldest first (mekatek.outbox_claim, FOR UPDATE
 * SKIP LOCKED, so several notifiers may share the work), POSTs each to an
 * HTTP endpoint in the Telegram Bot API's shape and marks it delivered
 * (mekatek.outbox_delivered).  Rows queued while no notifier ran are
 * delivered when one starts: NOTIFY mekatek_outbox only wakes it up.
 *
 *   sendMessage {"chat_id": CHAT, "text": TEXT}
 *               a lab's digest (a statement's state changes, at most 30)
 *               is one message, a line per change: under Telegram's 4096
 *               characters with the longest item codes
 *   sendPhoto   {"chat_id": CHAT, "photo": IMAGE, "caption": TEXT}
 *               when the payload carries an "image" reference
 *
 * A message is retried until the API accepts it, one at a time per channel
 * so that a chat reads them in order: on 429 after the retry_after the API
 * asks for (Telegram's parameters.retry_after), on 5xx or no answer with
 * exponential backoff from --backoff-ms up to --max-backoff-ms.  Delivery
 * is at least once: a notifier killed between the API's answer and the
 * mark sends that message again.  Messages and JSON bodies are built by
 * the database (format, jsonb_build_object), never by hand.
 *
 * Usage: mekatek-notify -d CONNINFO -u URL_PREFIX -c CHANNEL=CHAT ... [-1]
 *   URL_PREFIX  e.g. https://api.telegram.org/bot<TOKEN>
 *   -c          a channel (capacity, door, lab, rfid) and its chat id;
 *               repeat for each channel to deliver
 *   -1          deliver what is pending and exit
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#define MAX_CHANNELS 8

static const char *conninfo = "";
static const char *url_prefix = NULL;
static const char *channels[MAX_CHANNELS];
static const char *chats[MAX_CHANNELS];
static int	nchannels = 0;
static bool once = false;
static bool quiet = false;
static long backoff_ms = 200;
static long max_backoff_ms = 30000;
static volatile sig_atomic_t stop_requested = 0;
static PGconn *conn = NULL;
static CURL *curl = NULL;
static long long n_sent, n_retries;

static void
logmsg(const char *fmt,...)
{
	va_list		ap;

	if (quiet)
		return;
	fprintf(stderr, "mekatek-notify: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
on_signal(int sig)
{
	(void) sig;
	stop_requested = 1;
}

static void
sleep_ms(long ms)
{
	while (ms > 0 && !stop_requested)
	{
		long		step = ms > 100 ? 100 : ms;

		usleep(step * 1000);
		ms -= step;
	}
}

static bool
db_connect(void)
{
	PGresult   *r;

	if (conn && PQstatus(conn) == CONNECTION_OK)
		return true;
	if (conn)
		PQfinish(conn);
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		logmsg("database unreachable: %s", PQerrorMessage(conn));
		PQfinish(conn);
		conn = NULL;
		return false;
	}
	r = PQexec(conn, "LISTEN mekatek_outbox");
	PQclear(r);
	return true;
}

typedef struct Reply
{
	char		body[4096];
	size_t		len;
} Reply;

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	Reply	   *r = arg;
	size_t		take = size * n;

	if (take > sizeof r->body - 1 - r->len)
		take = sizeof r->body - 1 - r->len;
	memcpy(r->body + r->len, data, take);
	r->len += take;
	r->body[r->len] = '\0';
	return size * n;
}

/* POST body to URL_PREFIX/method: the HTTP status, 0 when no answer. */
static long
post(const char *method, const char *body, Reply *reply)
{
	char		url[2048];
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	long		status = 0;

	snprintf(url, sizeof url, "%s/%s", url_prefix, method);
	reply->len = 0;
	reply->body[0] = '\0';
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	return status;
}

/* Telegram's retry_after (seconds) in a 429 answer, read by the database. */
static long
retry_after_ms(const char *body)
{
	const char *p[1] = {body};
	PGresult   *r = PQexecParams(conn,
								 "SELECT coalesce(($1::jsonb->'parameters'->>'retry_after')::int, 1) * 1000",
								 1, NULL, p, NULL, NULL, 0);
	long		ms = 1000;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		ms = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return ms;
}

/*
 * Deliver one claimed message, retrying until the API takes it.  False
 * when stopping (it stays claimed, and is claimed again after the lease).
 */
static bool
deliver(const char *method, const char *body)
{
	long		wait = backoff_ms;

	for (;;)
	{
		Reply		reply;
		long		status = post(method, body, &reply);

		if (status >= 200 && status < 300)
			return true;
		n_retries++;
		if (status == 429)
		{
			long		ms = retry_after_ms(reply.body);

			logmsg("rate limited: waiting %ld ms", ms);
			sleep_ms(ms);
		}
		else
		{
			logmsg("API answered %ld: retrying in %ld ms", status, wait);
			sleep_ms(wait);
			wait = wait * 2 > max_backoff_ms ? max_backoff_ms : wait * 2;
		}
		if (stop_requested)
			return false;
		/* 4xx other than 429: the message will never pass; keep trying
		 * all the same, loudly, rather than lose it. */
	}
}

/* One channel's pending messages, in order.  Returns how many were sent. */
static int
drain_channel(int c)
{
	const char *params[2] = {channels[c], chats[c]};
	PGresult   *r;
	int			sent = 0;

	/*
	 * The message and the request body, built by the database from the
	 * payload (jsonb): sendPhoto when the payload names an image.
	 */
	r = PQexecParams(conn,
					 "SELECT o.outbox_id, CASE WHEN o.payload ? 'image' THEN 'sendPhoto' ELSE 'sendMessage' END, "
					 "       CASE WHEN o.payload ? 'image' "
					 "            THEN jsonb_build_object('chat_id', $2::text, 'photo', o.payload->>'image', 'caption', t.text) "
					 "            ELSE jsonb_build_object('chat_id', $2::text, 'text', t.text) END::text "
					 "  FROM mekatek.outbox_claim($1, 50, '5 minutes') o, "
					 "       LATERAL (SELECT CASE o.channel "
					 "         WHEN 'capacity' THEN format('Room %s: %s%s (%s of %s) at %s', o.payload->>'room', o.payload->>'state', "
					 "              coalesce(' ' || (o.payload->>'of'), ''), o.payload->>'inside', o.payload->>'capacity', o.payload->>'at') "
					 "         WHEN 'door' THEN format('Door %s: %s (card ...%s) at %s', o.payload->>'door', o.payload->>'reason', "
					 "              o.payload->>'uid_tail', o.payload->>'at') "
					 "         WHEN 'lab' THEN CASE WHEN o.payload ? 'changes' "
					 "              THEN format('Lab %s: %s state change%s%s', o.payload->>'lab', "
					 "                          jsonb_array_length(o.payload->'changes'), "
					 "                          CASE jsonb_array_length(o.payload->'changes') WHEN 1 THEN '' ELSE 's' END, "
					 "                          CASE WHEN (o.payload->>'parts')::int > 1 "
					 "                               THEN format(' (part %s of %s)', o.payload->>'part', o.payload->>'parts') "
					 "                               ELSE '' END) "
					 "                || (SELECT string_agg(E'\\n' || format('%s: %s -> %s at %s', c->>'item', c->>'from', "
					 "                                                         c->>'to', c->>'at'), '' ORDER BY n) "
					 "                      FROM jsonb_array_elements(o.payload->'changes') WITH ORDINALITY AS e(c, n)) "
					 "              ELSE format('Sample %s: %s -> %s at %s, %s', o.payload->>'item', o.payload->>'from', "
					 "                          o.payload->>'to', o.payload->>'lab', o.payload->>'at') END "
					 "         WHEN 'rfid' THEN format('Scan at %s: %s (%s) at %s', o.payload->>'lab', o.payload->>'flag', "
					 "              o.payload->>'uid', o.payload->>'at') "
					 "         ELSE o.payload::text END AS text) t "
					 " ORDER BY o.outbox_id",
					 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		logmsg("claiming %s: %s", channels[c], PQerrorMessage(conn));
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < PQntuples(r) && !stop_requested; i++)
	{
		const char *id[1] = {PQgetvalue(r, i, 0)};
		PGresult   *d;

		if (!deliver(PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)))
			break;
		d = PQexecParams(conn, "SELECT mekatek.outbox_delivered(ARRAY[$1::bigint])", 1, NULL, id, NULL, NULL, 0);
		if (PQresultStatus(d) != PGRES_TUPLES_OK)
			logmsg("marking %s delivered: %s", id[0], PQerrorMessage(conn));
		PQclear(d);
		n_sent++;
		sent++;
	}
	PQclear(r);
	return sent;
}

int
main(int argc, char **argv)
{
	int			c;
	struct sigaction sa;

	while ((c = getopt(argc, argv, "d:u:c:1qb:m:")) != -1)
	{
		switch (c)
		{
			case 'd': conninfo = optarg; break;
			case 'u': url_prefix = optarg; break;
			case 'c':
				{
					char	   *eq = strchr(optarg, '=');

					if (eq == NULL || nchannels == MAX_CHANNELS)
					{
						fprintf(stderr, "mekatek-notify: -c CHANNEL=CHAT (at most %d)\n", MAX_CHANNELS);
						return 1;
					}
					*eq = '\0';
					channels[nchannels] = optarg;
					chats[nchannels++] = eq + 1;
					break;
				}
			case '1': once = true; break;
			case 'q': quiet = true; break;
			case 'b': backoff_ms = atol(optarg); break;
			case 'm': max_backoff_ms = atol(optarg); break;
			default:
				fprintf(stderr, "usage: mekatek-notify -d CONNINFO -u URL_PREFIX -c CHANNEL=CHAT ... [-1] [-q] [-b BACKOFF_MS] [-m MAX_BACKOFF_MS]\n");
				return 1;
		}
	}
	if (url_prefix == NULL || nchannels == 0 || backoff_ms < 1 || max_backoff_ms < backoff_ms)
	{
		fprintf(stderr, "mekatek-notify: -u URL_PREFIX and at least one -c CHANNEL=CHAT are needed\n");
		return 1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();

	while (!stop_requested)
	{
		int			total = 0;
		bool		failed = false;

		if (!db_connect())
		{
			sleep_ms(1000);
			continue;
		}
		for (int i = 0; i < nchannels && !stop_requested; i++)
		{
			int			n = drain_channel(i);

			if (n < 0)
				failed = true;
			else
				total += n;
		}
		if (failed && PQstatus(conn) != CONNECTION_OK)
			continue;			/* reconnect */
		if (total > 0)
			continue;			/* more may be waiting */
		if (once)
			break;
		/* Nothing pending: sleep until a NOTIFY or a minute passes. */
		{
			struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
			PGnotify   *n;

			/*
			 * A NOTIFY that arrived while a drain ran was read with its
			 * result and waits in libpq, not on the socket: poll() would
			 * sleep through it (its row committed after that drain's
			 * snapshot).  Drain again instead, as mekatek-chat -O does.
			 */
			if ((n = PQnotifies(conn)) != NULL)
			{
				do
					PQfreemem(n);
				while ((n = PQnotifies(conn)) != NULL);
				continue;
			}
			if (poll(&pfd, 1, 60000) > 0)
				PQconsumeInput(conn);
			while ((n = PQnotifies(conn)) != NULL)
				PQfreemem(n);
		}
	}
	logmsg("sent %lld, retries %lld", n_sent, n_retries);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	if (conn)
		PQfinish(conn);
	return 0;
}
