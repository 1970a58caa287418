/*
 * feed: the devices of the MQTT test and bench.
 *
 *   feed [-m HOST:PORT] [-r RATE] < messages
 *
 * Reads one message per line.  With -m each line is "TOPIC PAYLOAD" and is
 * published with QoS 1 (the first blank ends the topic); the program ends
 * once the broker has acknowledged every message.  Without -m each line
 * is written to stdout as it is (line protocol for mekatek-edge's stdin).
 * "{now}" in a line becomes the moment it is sent, in microseconds since
 * the epoch (latency is measured against it).  -r paces to RATE lines per
 * second (0, the default: as fast as possible).  A line "!sleep MS" pauses.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

static long long acked = 0;

static long long
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long) tv.tv_sec * 1000000 + tv.tv_usec;
}

static void
on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	(void) mosq;
	(void) obj;
	(void) mid;
	acked++;
}

int
main(int argc, char **argv)
{
	struct mosquitto *mosq = NULL;
	const char *broker = NULL;
	double		rate = 0;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	long long	sent = 0,
				t0;
	int			c,
				rc;

	while ((c = getopt(argc, argv, "m:r:")) != -1)
	{
		if (c == 'm')
			broker = optarg;
		else if (c == 'r')
			rate = atof(optarg);
		else
		{
			fprintf(stderr, "usage: feed [-m HOST:PORT] [-r RATE]\n");
			return 1;
		}
	}
	if (broker)
	{
		char		host[256];
		const char *colon = strrchr(broker, ':');

		snprintf(host, sizeof host, "%.*s", colon ? (int) (colon - broker) : (int) strlen(broker), broker);
		mosquitto_lib_init();
		mosq = mosquitto_new(NULL, true, NULL);
		mosquitto_publish_callback_set(mosq, on_publish);
		mosquitto_max_inflight_messages_set(mosq, 1000);
		rc = mosquitto_connect(mosq, host, colon ? atoi(colon + 1) : 1883, 30);
		if (rc != MOSQ_ERR_SUCCESS)
		{
			fprintf(stderr, "feed: cannot connect to %s: %s\n", broker, mosquitto_strerror(rc));
			return 1;
		}
	}
	t0 = now_us();
	while ((len = getline(&line, &cap, stdin)) > 0)
	{
		char		out[65536];
		char	   *at,
				   *p = line;
		size_t		o = 0;

		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (strncmp(line, "!sleep ", 7) == 0)
		{
			usleep(atoi(line + 7) * 1000);
			continue;
		}
		if (rate > 0)
		{
			long long	due = t0 + (long long) (sent * 1e6 / rate);

			while (now_us() < due)
			{
				if (mosq)
					mosquitto_loop(mosq, 1, 1);
				else
					usleep(200);
			}
		}
		/* {now} -> microseconds */
		while ((at = strstr(p, "{now}")) != NULL && o + (at - p) + 32 < sizeof out)
		{
			memcpy(out + o, p, at - p);
			o += at - p;
			o += snprintf(out + o, sizeof out - o, "%lld", now_us());
			p = at + 5;
		}
		o += snprintf(out + o, sizeof out - o, "%s", p);
		if (mosq)
		{
			char	   *sp = strchr(out, ' ');
			const char *payload = sp ? sp + 1 : "";

			if (sp)
				*sp = '\0';
			rc = mosquitto_publish(mosq, NULL, out, (int) strlen(payload), payload, 1, false);
			if (rc != MOSQ_ERR_SUCCESS)
			{
				fprintf(stderr, "feed: publish: %s\n", mosquitto_strerror(rc));
				return 1;
			}
			mosquitto_loop(mosq, 0, 1);
		}
		else
		{
			fputs(out, stdout);
			fputc('\n', stdout);
			if (rate > 0)
				fflush(stdout);
		}
		sent++;
	}
	if (mosq)
	{
		while (acked < sent)
		{
			rc = mosquitto_loop(mosq, 100, 1);
			if (rc != MOSQ_ERR_SUCCESS)
			{
				fprintf(stderr, "feed: %s\n", mosquitto_strerror(rc));
				return 1;
			}
		}
		mosquitto_disconnect(mosq);
		mosquitto_destroy(mosq);
		mosquitto_lib_cleanup();
		fprintf(stderr, "feed: %lld messages published, %lld acknowledged\n", sent, acked);
	}
	return 0;
}
