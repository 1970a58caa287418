/*
 * s3_client.c: the mekatek.s3_* settings and S3 requests on libcurl.
 *
 * Every request is signed with Signature V4 built by s3_sigv4.c, so that
 * what is signed is exactly what is sent.  Nothing in this file raises an
 * ERROR while a transfer is under way: libcurl's callbacks only record, and
 * the caller decides (an export must abort its multipart upload before it
 * reports).  Interrupts stop a transfer through the progress callback and are
 * served right after it.
 *
 * The secret key is read only here, is never a function argument, never
 * appears in an error (libcurl's error buffer names the host, not headers;
 * S3's error bodies are reduced to their Code and Message), and verbose
 * output is never enabled.
 */
#include "core/mekatek.h"

#include <pthread.h>
#include <strings.h>
#include <signal.h>
#include <time.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/wait_event.h"

#include "backup/s3_client.h"
#include "backup/s3_sigv4.h"

#define MK_BODY_CAP (64 * 1024)
#define MK_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


static void
require_setting(const char *value, const char *name)
{
	if (value == NULL || value[0] == '\0')
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "Set it in postgresql.conf or with ALTER SYSTEM as a superuser, then SELECT pg_reload_conf().",
				 "setting \"%s\" is not set", name);
}

/*
 * Until the library is loaded, a setting read from the configuration is a
 * plain placeholder that anyone can SHOW.  Only a library loaded at session
 * start (shared_preload_libraries, session_preload_libraries) defines the
 * secret as superuser-only before a user can ask: say so once.
 */
static void
warn_unless_preloaded(void)
{
	static bool warned = false;
	const char *shared = GetConfigOption("shared_preload_libraries", true, false);
	const char *session = GetConfigOption("session_preload_libraries", true, false);

	if (warned || (shared && strstr(shared, "mekatek")) || (session && strstr(session, "mekatek")))
		return;
	warned = true;
	ereport(WARNING,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("mekatek is not preloaded: sessions that have not loaded it can read mekatek.s3_secret_access_key from the configuration"),
			 errhint("Add mekatek to shared_preload_libraries (next to pg_cron) and restart.")));
}

void
mk_s3_config_load(MkS3Config *cfg)
{
	const char *ep = mk_s3_endpoint;
	const char *rest;
	const char *slash;

	require_setting(mk_s3_region, "mekatek.s3_region");
	warn_unless_preloaded();

	if (ep == NULL || ep[0] == '\0')
		ep = psprintf("https://s3.%s.amazonaws.com", mk_s3_region);
	if (strncmp(ep, "https://", 8) == 0)
	{
		cfg->scheme = "https";
		rest = ep + 8;
	}
	else if (strncmp(ep, "http://", 7) == 0)
	{
		cfg->scheme = "http";
		rest = ep + 7;
	}
	else
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Use a URL such as https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000.",
				 "setting \"mekatek.s3_endpoint\" is not an http or https URL: \"%s\"", ep);
	slash = strchr(rest, '/');
	cfg->hostport = slash ? pnstrdup(rest, slash - rest) : pstrdup(rest);
	cfg->basepath = slash ? pstrdup(slash) : pstrdup("");
	/* "http://host:port/" and "http://host:port" are the same endpoint. */
	if (strlen(cfg->basepath) > 0 && cfg->basepath[strlen(cfg->basepath) - 1] == '/')
		cfg->basepath[strlen(cfg->basepath) - 1] = '\0';
	if (cfg->hostport[0] == '\0' || strpbrk(cfg->hostport, " @?#") != NULL)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "setting \"mekatek.s3_endpoint\" has no usable host: \"%s\"", ep);
	cfg->path_style = (mk_s3_uri_style == 1);
	cfg->region = pstrdup(mk_s3_region);
	mk_s3_credentials_load(cfg);
	cfg->verify_tls = mk_s3_verify_tls;
	cfg->timeout_s = mk_s3_timeout;
	cfg->max_retries = mk_s3_max_retries;
	cfg->retry_base_ms = mk_s3_retry_base;
}

static void mk_s3_check_key_segments(const char *key);

void
mk_s3_check_names(const char *bucket, const char *key)
{
	/* S3's bucket naming rules: 3-63 of a-z 0-9 . - */
	size_t		n = strlen(bucket);

	if (n < 3 || n > 63 || strspn(bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Bucket names have 3 to 63 characters: lower-case letters, digits, dots and hyphens.",
				 "invalid S3 bucket name \"%s\"", mk_quote_short(bucket));
	if (key != NULL)
	{
		n = strlen(key);
		if (n == 0 || n > 1024)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Object keys have 1 to 1024 bytes.",
					 "invalid S3 object key \"%s\" (%zu bytes)", mk_quote_short(key), n);
		mk_s3_check_key_segments(key);
	}
}

/*
 * A "." or ".." segment is removed from the URL path by libcurl and by
 * proxies (RFC 3986 dot segments) after it was signed, so the request
 * would fail as SignatureDoesNotMatch (28000) with a hint about the
 * credentials, or reach another key than the one named; control
 * characters are not sent as written either.  Refuse them up front.
 */
static void
mk_s3_check_key_segments(const char *key)
{
	for (const char *seg = key; seg != NULL;)
	{
		const char *end = strchr(seg, '/');
		size_t		len = end ? (size_t) (end - seg) : strlen(seg);

		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "A key may not have \".\" or \"..\" between slashes: URLs drop such segments, so the object would not be the one named.",
					 "invalid S3 object key \"%s\": it has a \"%.*s\" segment", mk_quote_short(key), (int) len, seg);
		seg = end ? end + 1 : NULL;
	}
	for (const unsigned char *c = (const unsigned char *) key; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "Object keys may not contain control characters (tabs, newlines, ...).",
					 "invalid S3 object key \"%s...\": it has a control character (0x%02x) at byte %d",
					 mk_quote_short(pnstrdup(key, (const char *) c - key)), *c,
					 (int) ((const char *) c - key) + 1);
}

static bool curl_ready = false;

CURL *
mk_s3_curl_new(void)
{
	CURL	   *curl;

	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			mk_error(ERRCODE_INTERNAL_ERROR, NULL, "could not initialise libcurl");
		curl_ready = true;
	}
	curl = curl_easy_init();
	if (curl == NULL)
		mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "could not create a libcurl handle");
	return curl;
}

void
mk_s3_result_init(MkS3Result *res)
{
	memset(res, 0, sizeof(*res));
	initStringInfo(&res->body);
}

/* State shared with libcurl's callbacks during one attempt. */
typedef struct Xfer
{
	const MkS3Request *req;
	MkS3Result *res;
	CURL	   *curl;
	size_t		sent;
	int			timeout_s;
	curl_off_t	last_moved;		/* bytes up + down at the last change */
	time_t		last_change;
	bool		stalled;
	volatile bool *cancel;		/* set: a thread's transfer, stopped by the backend */
} Xfer;

static size_t
read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	Xfer	   *x = arg;
	size_t		n = Min(size * nitems, x->req->body_len - x->sent);

	memcpy(buf, x->req->body + x->sent, n);
	x->sent += n;
	return n;
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	Xfer	   *x = arg;
	size_t		n = size * nmemb;
	long		status = 0;

	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	if (x->req->sink && status >= 200 && status < 300)
	{
		if (!x->req->sink(x->req->sink_arg, data, n))
		{
			x->res->sink_stopped = true;
			return 0;
		}
		return n;
	}
	/*
	 * Keep error bodies and XML answers, but never without bound; the
	 * buffer was enlarged to the cap beforehand (prepare_transfer), so that
	 * this allocates nothing, even in an upload thread.
	 */
	if (x->res->body.len + n <= MK_BODY_CAP)
	{
		memcpy(x->res->body.data + x->res->body.len, data, n);
		x->res->body.len += n;
		x->res->body.data[x->res->body.len] = '\0';
	}
	return n;
}

static size_t
header_cb(char *data, size_t size, size_t nitems, void *arg)
{
	Xfer	   *x = arg;
	size_t		n = size * nitems;

	if (n > 5 && strncasecmp(data, "etag:", 5) == 0)
	{
		const char *v = data + 5;
		size_t		len;

		while (*v == ' ')
			v++;
		len = n - (v - data);
		while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
			len--;
		len = Min(len, sizeof(x->res->etag) - 1);
		memcpy(x->res->etag, v, len);
		x->res->etag[len] = '\0';
	}
	return n;
}

/*
 * Stop a transfer when the backend is asked to cancel or die, or when
 * nothing has moved for timeout_s: libcurl's low-speed limit averages over
 * seconds, so a fast upload followed by a server that never answers would
 * not trip it soon enough.
 */
static int
progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	Xfer	   *x = arg;
	time_t		now = time(NULL);

	/* A thread reads no backend state: the backend sets cancel for it. */
	if (x->cancel ? *x->cancel : (InterruptPending && (QueryCancelPending || ProcDiePending)))
		return 1;
	if (dlnow + ulnow != x->last_moved)
	{
		x->last_moved = dlnow + ulnow;
		x->last_change = now;
	}
	else if (now - x->last_change >= x->timeout_s)
	{
		x->stalled = true;
		return 1;
	}
	return 0;
}

/* Path and URL of a request: path-style or virtual-host addressing. */
static void
build_target(const MkS3Config *cfg, const char *bucket, const char *key,
			 StringInfo path, StringInfo host)
{
	char	   *enc = (key && key[0]) ? mk_uri_encode(key, 1) : NULL;

	if (key && key[0] && enc == NULL)
		mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "out of memory");
	appendStringInfoString(path, cfg->basepath);
	if (cfg->path_style)
	{
		appendStringInfo(host, "%s", cfg->hostport);
		appendStringInfo(path, "/%s", bucket);
		if (enc)
			appendStringInfo(path, "/%s", enc);
	}
	else
	{
		appendStringInfo(host, "%s.%s", bucket, cfg->hostport);
		appendStringInfo(path, "/%s", enc ? enc : "");
	}
	free(enc);
}

/*
 * The signed header list of a request, and its URL.  Every header that is
 * sent is signed, and nothing is signed that libcurl does not send.
 */
static struct curl_slist *
signed_headers(const MkS3Config *cfg, const MkS3Request *req, const char *payload,
			   StringInfo url)
{
	StringInfoData path,
				host;
	char		amz_date[17];
	char		md5[25];
	time_t		now = time(NULL);
	struct tm	tm;
	MkSigV4Header hdrs[9];
	int			nh = 0;
	MkSigV4Request sreq;
	MkSigV4Result sig;
	struct curl_slist *list = NULL;
	char	   *line;

	initStringInfo(&path);
	initStringInfo(&host);
	build_target(cfg, req->bucket, req->key, &path, &host);
	appendStringInfo(url, "%s://%s%s", cfg->scheme, host.data, path.data);
	if (req->query && req->query[0])
		appendStringInfo(url, "?%s", req->query);

	gmtime_r(&now, &tm);
	strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
	hdrs[nh++] = (MkSigV4Header) {"host", host.data};
	hdrs[nh++] = (MkSigV4Header) {"x-amz-content-sha256", payload};
	hdrs[nh++] = (MkSigV4Header) {"x-amz-date", amz_date};
	/*
	 * A signed payload hash already makes S3 check the body
	 * (XAmzContentSHA256Mismatch): Content-MD5 only protects an unsigned one,
	 * and would be one more pass over every part.
	 */
	if (req->content_md5 && req->body && strcmp(payload, "UNSIGNED-PAYLOAD") == 0)
	{
		if (mk_md5_base64(req->body, req->body_len, md5) != 0)
			mk_error(ERRCODE_INTERNAL_ERROR, NULL, "MD5 failed");
		hdrs[nh++] = (MkSigV4Header) {"content-md5", md5};
	}
	if (req->content_type)
		hdrs[nh++] = (MkSigV4Header) {"content-type", req->content_type};
	if (req->sse)
		hdrs[nh++] = (MkSigV4Header) {"x-amz-server-side-encryption", "AES256"};
	if (req->copy_source)
		hdrs[nh++] = (MkSigV4Header) {"x-amz-copy-source", req->copy_source};
	if (cfg->session_token)
		hdrs[nh++] = (MkSigV4Header) {"x-amz-security-token", cfg->session_token};

	sreq = (MkSigV4Request) {req->method, path.data, req->query ? req->query : "", hdrs, nh,
		payload, amz_date, cfg->region, "s3", cfg->access_key, cfg->secret_key};
	if (mk_sigv4_sign(&sreq, &sig) != 0)
		mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "could not sign the S3 request");
	for (int i = 0; i < nh; i++)
	{
		line = psprintf("%s: %s", hdrs[i].name, hdrs[i].value);
		list = curl_slist_append(list, line);
		pfree(line);
	}
	line = psprintf("Authorization: %s", sig.authorization);
	list = curl_slist_append(list, line);
	pfree(line);
	mk_sigv4_free(&sig);
	return list;
}

/* Options every transfer shares. */
static void
common_options(CURL *curl, const MkS3Config *cfg, const char *url, struct curl_slist *list,
			   char *errbuf)
{
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_VERBOSE, 0L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) Min(cfg->timeout_s, 30));
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, cfg->verify_tls ? 1L : 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, cfg->verify_tls ? 2L : 0L);
	errbuf[0] = '\0';
}

/*
 * Sign a request and set up the handle for one attempt; *x must live
 * until finish_transfer.  Returns the header list the handle uses.
 */
static struct curl_slist *
prepare_transfer(CURL *curl, const MkS3Config *cfg, const MkS3Request *req, MkS3Result *res,
				 Xfer *x)
{
	StringInfoData url;
	char		payload[65];
	struct curl_slist *list;

	*x = (Xfer) {req, res, curl, 0, cfg->timeout_s, -1, time(NULL), false, NULL};
	if (req->body_hash_unsigned)
		strlcpy(payload, "UNSIGNED-PAYLOAD", sizeof(payload));
	else if (mk_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, payload) != 0)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "SHA-256 failed");
	initStringInfo(&url);
	list = signed_headers(cfg, req, payload, &url);
	/* No "Expect: 100-continue" round trip: the body is in memory. */
	list = curl_slist_append(list, "Expect:");
	if (req->body && !req->content_type)
		list = curl_slist_append(list, "Content-Type:");

	common_options(curl, cfg, url.data, list, res->errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, x);
	if (req->body)
	{
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(curl, CURLOPT_READDATA, x);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) req->body_len);
		if (strcmp(req->method, "PUT") != 0)
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	}
	else if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);

	res->status = 0;
	res->etag[0] = '\0';
	res->sink_stopped = false;
	resetStringInfo(&res->body);
	enlargeStringInfo(&res->body, MK_BODY_CAP + 1);
	return list;
}

/* Record how an attempt ended (rc from libcurl); true on 2xx. */
static bool
finish_transfer(CURL *curl, const MkS3Config *cfg, const MkS3Request *req, MkS3Result *res,
				Xfer *x, struct curl_slist *list, CURLcode rc)
{
	res->curl_rc = rc;
	if (res->curl_rc == CURLE_ABORTED_BY_CALLBACK && x->stalled)
	{
		res->curl_rc = CURLE_OPERATION_TIMEDOUT;
		snprintf(res->errbuf, CURL_ERROR_SIZE, "no progress for %d s", cfg->timeout_s);
	}
	if (res->curl_rc == CURLE_OK || res->curl_rc == CURLE_WRITE_ERROR)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(list);

	/* CompleteMultipartUpload may answer 200 with an error in the body. */
	if (res->curl_rc == CURLE_OK && res->status == 200 && req->sink == NULL &&
		strstr(res->body.data, "<Error>") != NULL)
		res->status = 500;
	return res->curl_rc == CURLE_OK && res->status >= 200 && res->status < 300;
}

static bool
perform_once(CURL *curl, const MkS3Config *cfg, const MkS3Request *req, MkS3Result *res)
{
	Xfer		x;
	struct curl_slist *list = prepare_transfer(curl, cfg, req, res, &x);
	CURLcode	rc;

	/* Waiting on the network shows in pg_stat_activity (Extension). */
	pgstat_report_wait_start(PG_WAIT_EXTENSION);
	rc = curl_easy_perform(curl);
	pgstat_report_wait_end();
	return finish_transfer(curl, cfg, req, res, &x, list, rc);
}

static bool
retryable(const MkS3Result *res)
{
	if (res->curl_rc == CURLE_ABORTED_BY_CALLBACK || res->sink_stopped)
		return false;
	if (res->curl_rc != CURLE_OK)
		return true;			/* refused, reset, timed out, cut short */
	return res->status >= 500 || res->status == 408 || res->status == 429;
}

/* Sleep on the latch so that a cancel is served during the backoff. */
static void
backoff(int ms)
{
	if (ms <= 0)
		return;
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

bool
mk_s3_request(CURL *curl, const MkS3Config *cfg, const MkS3Request *req,
			  MkS3Result *res, int max_attempts)
{
	int			delay = cfg->retry_base_ms;

	for (res->attempts = 1;; res->attempts++)
	{
		if (req->sink_reset)
			req->sink_reset(req->sink_arg);
		if (perform_once(curl, cfg, req, res))
			return true;
		if (!retryable(res) || res->attempts >= max_attempts)
			return false;
		res->retries++;
		backoff(delay + (int) (random() % (delay / 4 + 1)));
		delay *= 2;
		/* A cancel during the backoff ends the retries. */
		if (InterruptPending && (QueryCancelPending || ProcDiePending))
			return false;
	}
}

bool
mk_s3_call(const MkS3Config *cfg, const MkS3Request *req, MkS3Result *res)
{
	CURL	   *volatile curl = NULL;
	volatile bool ok = false;

	/* PG_CATCH, not PG_FINALLY: gcc takes the latter's flag for clobbered. */
	PG_TRY();
	{
		curl = mk_s3_curl_new();
		ok = mk_s3_request(curl, cfg, req, res, 1 + cfg->max_retries);
	}
	PG_CATCH();
	{
		if (curl)
			curl_easy_cleanup(curl);
		PG_RE_THROW();
	}
	PG_END_TRY();
	curl_easy_cleanup(curl);
	return ok;
}

/*
 * A request whose first attempt runs on a thread of its own, so that an
 * export uploads part N while COPY formats and compresses part N+1.  The
 * backend signs the request and sets up the handle (prepare_transfer); the
 * thread only runs curl_easy_perform on that handle and the request's own
 * buffers: libcurl's callbacks above allocate nothing and read no backend
 * state when x.cancel is set, so no PostgreSQL code runs off the backend's
 * thread.  The backend collects the outcome (finish_transfer) and makes any
 * retries itself, as mk_s3_request does, with a fresh signature.
 */
struct MkS3Async
{
	CURL	   *curl;
	const MkS3Config *cfg;
	MkS3Request req;
	MkS3Result *res;
	Xfer		x;
	struct curl_slist *list;
	int			max_attempts;
	pthread_t	thread;
	bool		running;		/* a thread was started and not joined */
	volatile bool cancel;
	CURLcode	rc;				/* written by the thread */
	int			finished;		/* set by the thread, __atomic */
};

MkS3Async *
mk_s3_async_new(void)
{
	MkS3Async  *a = palloc0(sizeof(MkS3Async));

	a->curl = mk_s3_curl_new();
	return a;
}

static void *
async_main(void *arg)
{
	MkS3Async  *a = arg;

	a->rc = curl_easy_perform(a->curl);
	__atomic_store_n(&a->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

void
mk_s3_async_start(MkS3Async *a, const MkS3Config *cfg, const MkS3Request *req,
				  MkS3Result *res, int max_attempts)
{
	sigset_t	all,
				saved;
	int			rc;

	Assert(!a->running);
	a->cfg = cfg;
	a->req = *req;
	a->res = res;
	a->max_attempts = max_attempts;
	a->cancel = false;
	a->finished = 0;
	res->attempts = 1;
	a->list = prepare_transfer(a->curl, cfg, &a->req, res, &a->x);
	a->x.cancel = &a->cancel;
	/* PostgreSQL's signals are handled by the backend's own thread only. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	rc = pthread_create(&a->thread, NULL, async_main, a);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (rc != 0)
	{
		/* No thread to be had: the same request, in the backend. */
		a->x.cancel = NULL;
		pgstat_report_wait_start(PG_WAIT_EXTENSION);
		a->rc = curl_easy_perform(a->curl);
		pgstat_report_wait_end();
		a->finished = 1;
		return;
	}
	a->running = true;
}

bool
mk_s3_async_done(MkS3Async *a)
{
	return !a->running || __atomic_load_n(&a->finished, __ATOMIC_ACQUIRE);
}

/* Wait for the thread, serving interrupts (a cancel stops the transfer). */
static void
async_join(MkS3Async *a, uint32 wait_event)
{
	if (!a->running)
		return;
	while (!__atomic_load_n(&a->finished, __ATOMIC_ACQUIRE))
	{
		if (InterruptPending && (QueryCancelPending || ProcDiePending))
			a->cancel = true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 5, wait_event);
		ResetLatch(MyLatch);
	}
	pthread_join(a->thread, NULL);
	a->running = false;
}

bool
mk_s3_async_wait(MkS3Async *a)
{
	MkS3Result *res = a->res;
	bool		ok;
	int			delay = a->cfg->retry_base_ms;

	async_join(a, PG_WAIT_EXTENSION);
	if (a->cancel)
		a->rc = CURLE_ABORTED_BY_CALLBACK;
	ok = finish_transfer(a->curl, a->cfg, &a->req, res, &a->x, a->list, a->rc);
	a->list = NULL;
	/* The retries of mk_s3_request, in the backend. */
	while (!ok && retryable(res) && res->attempts < a->max_attempts)
	{
		res->retries++;
		backoff(delay + (int) (random() % (delay / 4 + 1)));
		delay *= 2;
		if (InterruptPending && (QueryCancelPending || ProcDiePending))
			break;
		res->attempts++;
		ok = perform_once(a->curl, a->cfg, &a->req, res);
	}
	return ok;
}

void
mk_s3_async_free(MkS3Async *a)
{
	if (a == NULL)
		return;
	if (a->running)
	{
		/* The error path: stop the transfer, then wait for the thread. */
		a->cancel = true;
		pthread_join(a->thread, NULL);
		a->running = false;
	}
	if (a->list)
	{
		curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, NULL);
		curl_slist_free_all(a->list);
		a->list = NULL;
	}
	if (a->curl)
		curl_easy_cleanup(a->curl);
	a->curl = NULL;
}

char *
mk_xml_value(const char *xml, const char *tag)
{
	char	   *open = psprintf("<%s>", tag);
	char	   *close = psprintf("</%s>", tag);
	const char *b = strstr(xml, open);
	const char *e;

	if (b == NULL)
		return NULL;
	b += strlen(open);
	e = strstr(b, close);
	return e ? pnstrdup(b, e - b) : NULL;
}

char *
mk_s3_describe(const MkS3Result *res)
{
	if (res->curl_rc == CURLE_ABORTED_BY_CALLBACK)
		return pstrdup("interrupted");
	if (res->curl_rc != CURLE_OK && res->curl_rc != CURLE_WRITE_ERROR)
		return psprintf("%s%s%s", curl_easy_strerror(res->curl_rc),
						res->errbuf[0] ? ": " : "", res->errbuf);
	else
	{
		char	   *code = res->body.data ? mk_xml_value(res->body.data, "Code") : NULL;
		char	   *msg = res->body.data ? mk_xml_value(res->body.data, "Message") : NULL;

		return psprintf("HTTP %ld%s%s%s%s", res->status, code ? " " : "", code ? code : "",
						msg ? ": " : "", msg ? msg : "");
	}
}

void
mk_s3_report(const MkS3Result *res, const char *what, const char *bucket, const char *key)
{
	char	   *desc = mk_s3_describe(res);
	int			code;
	const char *hint = NULL;

	CHECK_FOR_INTERRUPTS();
	if (res->curl_rc != CURLE_OK && res->curl_rc != CURLE_WRITE_ERROR)
	{
		code = ERRCODE_CONNECTION_FAILURE;
		hint = "Check mekatek.s3_endpoint and that the server is reachable; mekatek.s3_timeout and mekatek.s3_max_retries bound the wait.";
	}
	else if (res->status == 403 || res->status == 401)
	{
		code = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
		hint = "Check the credentials (the mekatek.s3_* key settings, else the server's AWS_* environment or AWS credentials file), mekatek.s3_region and the bucket's policy.";
	}
	else if (res->status == 404)
		code = ERRCODE_UNDEFINED_FILE;
	else
		code = ERRCODE_IO_ERROR;
	ereport(ERROR,
			(errcode(code),
			 errmsg("S3 %s of \"%s/%s\" failed after %d attempt%s: %s", what, bucket,
					key ? key : "", res->attempts, res->attempts == 1 ? "" : "s", desc),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/*
 * Pull-style GET for COPY FROM.  COPY asks for bytes; the multi interface
 * runs the transfer only as far as needed, pausing libcurl when the buffer
 * holds enough, so memory stays at a few hundred kilobytes.
 */
struct MkS3Stream
{
	const MkS3Config *cfg;
	CURL	   *curl;
	CURLM	   *multi;
	MkS3Result res;
	StringInfoData buf;
	int			pos;			/* consumed part of buf */
	bool		done;
	bool		paused;
	int64		bytes;
	int			attempts;
	const char *bucket;
	const char *key;
	struct curl_slist *hdrs;
};

#define STREAM_HIGH_WATER (1024 * 1024)

static bool
stream_sink(void *arg, const char *data, size_t len)
{
	MkS3Stream *st = arg;

	appendBinaryStringInfo(&st->buf, data, len);
	return true;
}

static size_t
stream_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	MkS3Stream *st = arg;
	size_t		n = size * nmemb;
	long		status = 0;

	curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300)
	{
		if (st->buf.len - st->pos >= STREAM_HIGH_WATER)
		{
			st->paused = true;
			return CURL_WRITEFUNC_PAUSE;
		}
		stream_sink(st, data, n);
		st->bytes += n;
		return n;
	}
	if (st->res.body.len + n <= MK_BODY_CAP)
		appendBinaryStringInfo(&st->res.body, data, n);
	return n;
}

/* Start one attempt: signed as perform_once, run by the multi handle. */
static void
stream_start(MkS3Stream *st)
{
	MkS3Request req = {0};
	StringInfoData url;

	req.method = "GET";
	req.bucket = st->bucket;
	req.key = st->key;
	req.query = "";
	initStringInfo(&url);
	if (st->hdrs)
		curl_slist_free_all(st->hdrs);
	st->hdrs = signed_headers(st->cfg, &req, MK_EMPTY_SHA256, &url);
	common_options(st->curl, st->cfg, url.data, st->hdrs, st->res.errbuf);
	curl_easy_setopt(st->curl, CURLOPT_WRITEFUNCTION, stream_write_cb);
	curl_easy_setopt(st->curl, CURLOPT_WRITEDATA, st);
	/* A paused transfer is idle on purpose: stream_pump times the server. */
	st->res.status = 0;
	st->res.curl_rc = CURLE_OK;
	resetStringInfo(&st->res.body);
	st->done = false;
	st->paused = false;
	st->attempts++;
	st->res.attempts = st->attempts;
	curl_multi_add_handle(st->multi, st->curl);
}

/* Run the transfer until the buffer has data or it ends; never raises. */
static void
stream_pump(MkS3Stream *st)
{
	time_t		idle_since = time(NULL);
	int64		seen = st->bytes;

	while (!st->done && st->buf.len - st->pos == 0)
	{
		int			running = 0;
		CURLMsg    *msg;
		int			left;

		if (st->paused)
		{
			st->paused = false;
			curl_easy_pause(st->curl, CURLPAUSE_CONT);
		}
		curl_multi_perform(st->multi, &running);
		while ((msg = curl_multi_info_read(st->multi, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE)
			{
				st->res.curl_rc = msg->data.result;
				curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &st->res.status);
				st->done = true;
			}
		if (st->done || st->buf.len - st->pos > 0)
			break;
		if (InterruptPending && (QueryCancelPending || ProcDiePending))
		{
			st->res.curl_rc = CURLE_ABORTED_BY_CALLBACK;
			st->done = true;
			break;
		}
		if (st->bytes != seen)
		{
			seen = st->bytes;
			idle_since = time(NULL);
		}
		else if (time(NULL) - idle_since > st->cfg->timeout_s)
		{
			st->res.curl_rc = CURLE_OPERATION_TIMEDOUT;
			snprintf(st->res.errbuf, sizeof(st->res.errbuf),
					 "no data for %d s", st->cfg->timeout_s);
			st->done = true;
			break;
		}
		pgstat_report_wait_start(PG_WAIT_EXTENSION);
		curl_multi_poll(st->multi, NULL, 0, 200, NULL);
		pgstat_report_wait_end();
	}
}

static bool
stream_ok(MkS3Stream *st)
{
	long		status = st->res.status;

	if (status == 0)
		curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &status);
	return st->res.curl_rc == CURLE_OK && status >= 200 && status < 300;
}

MkS3Stream *
mk_s3_stream_open(const MkS3Config *cfg, const char *bucket, const char *key)
{
	MkS3Stream *st = palloc0(sizeof(MkS3Stream));
	int			delay = cfg->retry_base_ms;

	st->cfg = cfg;
	st->bucket = bucket;
	st->key = key;
	mk_s3_result_init(&st->res);
	initStringInfo(&st->buf);
	st->curl = mk_s3_curl_new();
	st->multi = curl_multi_init();
	if (st->multi == NULL)
	{
		curl_easy_cleanup(st->curl);
		mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "could not create a libcurl multi handle");
	}
	/* Retry until the first byte of a 2xx body: nothing has reached COPY. */
	for (;;)
	{
		stream_start(st);
		stream_pump(st);
		if (st->buf.len > 0 || (st->done && stream_ok(st)))
			return st;
		curl_multi_remove_handle(st->multi, st->curl);
		if (st->res.curl_rc == CURLE_OK)
			curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &st->res.status);
		if (!retryable(&st->res) || st->attempts > cfg->max_retries)
		{
			MkS3Result res = st->res;

			mk_s3_stream_close(st);
			mk_s3_report(&res, "GET", bucket, key);
		}
		backoff(delay);
		delay *= 2;
		CHECK_FOR_INTERRUPTS();
	}
}

int
mk_s3_stream_read(MkS3Stream *st, char *buf, int maxlen)
{
	int			n;

	if (st->buf.len - st->pos == 0)
	{
		if (st->pos > 0)
		{
			resetStringInfo(&st->buf);
			st->pos = 0;
		}
		stream_pump(st);
		CHECK_FOR_INTERRUPTS();
		if (st->buf.len == 0)
		{
			if (!stream_ok(st))
			{
				MkS3Result res = st->res;

				/* The body was cut short: COPY must not take it as complete. */
				if (res.curl_rc == CURLE_OK)
					res.curl_rc = CURLE_PARTIAL_FILE;
				mk_s3_report(&res, "GET", st->bucket, st->key);
			}
			return 0;
		}
	}
	n = Min(maxlen, st->buf.len - st->pos);
	memcpy(buf, st->buf.data + st->pos, n);
	st->pos += n;
	return n;
}

int64
mk_s3_stream_bytes(MkS3Stream *st)
{
	return st->bytes;
}

void
mk_s3_stream_close(MkS3Stream *st)
{
	if (st->multi)
	{
		curl_multi_remove_handle(st->multi, st->curl);
		curl_multi_cleanup(st->multi);
		st->multi = NULL;
	}
	if (st->curl)
	{
		curl_easy_cleanup(st->curl);
		st->curl = NULL;
	}
	if (st->hdrs)
	{
		curl_slist_free_all(st->hdrs);
		st->hdrs = NULL;
	}
}
