/*
 * latency: how long a capacity notification takes to reach a listener.
 *
 *   latency CONNINFO SECONDS INTERVAL_MS
 *
 * One connection LISTENs on mekatek_capacity (the buzzer); another, every
 * INTERVAL_MS, lets one visitor into room 'probe' (capacity 1) and out
 * again, each a transaction of its own that crosses the capacity.  The
 * event's seen_at is clock_timestamp() at insert, the payload carries it
 * ("at", in UTC here), and the listener subtracts it from the moment the
 * notification arrives: insert + trigger + commit + delivery, same clock.
 * Prints count, p50, p99 and max in milliseconds.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <time.h>

#include <libpq-fe.h>

static double
now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

/* "at":"2024-05-01T10:00:00.123456+00:00" -> epoch seconds */
static double
payload_at(const char *payload)
{
	/* Payloads are in jsonb's text layout: "key": value. */
	const char *p = strstr(payload, "\"at\": \"");
	struct tm	tm = {0};
	double		frac = 0;
	char	   *end;

	if (p == NULL)
		return -1;
	p += 7;
	if (sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	p += 19;
	if (*p == '.')
		frac = strtod(p, &end);
	return (double) timegm(&tm) + frac;
}

static int
cmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static void
ok(PGconn *c, PGresult *r)
{
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "latency: %s", PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
}

int
main(int argc, char **argv)
{
	PGconn	   *listen,
			   *send;
	double		secs,
				end;
	int			interval_ms,
				n = 0,
				cap = 1 << 20,
				lost = 0;
	double	   *lat;
	const char *dir[2] = {"in", "out"};

	if (argc != 4)
	{
		fprintf(stderr, "usage: latency CONNINFO SECONDS INTERVAL_MS\n");
		return 1;
	}
	secs = atof(argv[2]);
	interval_ms = atoi(argv[3]);
	lat = malloc(sizeof(double) * cap);
	listen = PQconnectdb(argv[1]);
	send = PQconnectdb(argv[1]);
	if (PQstatus(listen) != CONNECTION_OK || PQstatus(send) != CONNECTION_OK)
	{
		fprintf(stderr, "latency: %s%s", PQerrorMessage(listen), PQerrorMessage(send));
		return 1;
	}
	ok(listen, PQexec(listen, "LISTEN mekatek_capacity"));
	ok(send, PQexec(send, "SET timezone = 'UTC'"));
	ok(send, PQprepare(send, "probe",
					   "INSERT INTO mekatek.visitor_event(camera, room_id, direction, seen_at) "
					   "VALUES ('probe', 'probe', $1, clock_timestamp())", 1, NULL));

	end = now_s() + secs;
	for (int i = 0; now_s() < end && n < cap; i++)
	{
		const char *v[1] = {dir[i % 2]};
		bool		got = false;
		double		deadline;

		ok(send, PQexecPrepared(send, "probe", 1, v, NULL, NULL, 0));
		deadline = now_s() + 5;
		while (!got && now_s() < deadline)
		{
			PGnotify   *nt;
			fd_set		fds;
			struct timeval tv = {0, 100000};
			int			sock = PQsocket(listen);

			FD_ZERO(&fds);
			FD_SET(sock, &fds);
			if (select(sock + 1, &fds, NULL, NULL, &tv) < 0)
				break;
			PQconsumeInput(listen);
			while ((nt = PQnotifies(listen)) != NULL)
			{
				double		t = now_s();

				if (strstr(nt->extra, "\"room\": \"probe\""))
				{
					lat[n++] = (t - payload_at(nt->extra)) * 1000.0;
					got = true;
				}
				PQfreemem(nt);
			}
		}
		if (!got)
			lost++;
		if (interval_ms > 0)
		{
			struct timespec ts = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};

			nanosleep(&ts, NULL);
		}
	}
	qsort(lat, n, sizeof(double), cmp);
	if (n == 0)
	{
		printf("notifications 0 (lost %d)\n", lost);
		return 1;
	}
	printf("notifications %d lost %d p50 %.2f ms p99 %.2f ms max %.2f ms\n", n, lost,
		   lat[n / 2], lat[(int) (n * 0.99)], lat[n - 1]);
	PQfinish(listen);
	PQfinish(send);
	return lost ? 1 : 0;
}
