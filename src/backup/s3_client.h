/*
 * s3_client.h: S3 requests from a backend, on libcurl, signed with
 * s3_sigv4.c.  Shared by export, import, verify and restore.
 */
#ifndef MK_S3_CLIENT_H
#define MK_S3_CLIENT_H

#include "postgres.h"

#include <curl/curl.h>

#include "lib/stringinfo.h"

/* Settings, copied from the mekatek.s3_* GUCs at the start of a call. */
typedef struct MkS3Config
{
	char	   *scheme;			/* "http" or "https" */
	char	   *hostport;		/* "s3.us-east-1.amazonaws.com", "127.0.0.1:9000" */
	char	   *basepath;		/* path prefix of the endpoint, usually "" */
	bool		path_style;
	char	   *region;
	char	   *access_key;
	char	   *secret_key;
	char	   *session_token;	/* NULL when not set */
	const char *credential_source;	/* where the keys came from, for errors */
	bool		verify_tls;
	int			timeout_s;		/* no progress for this long fails a request */
	int			max_retries;	/* retries after the first attempt */
	int			retry_base_ms;	/* first backoff; doubles each retry */
} MkS3Config;

/* Receives the body of a 2xx GET; returns false to stop the transfer. */
typedef bool (*MkS3Sink) (void *arg, const char *data, size_t len);

typedef struct MkS3Request
{
	const char *method;
	const char *bucket;
	const char *key;			/* NULL or "" for the bucket itself */
	const char *query;			/* "partNumber=1&uploadId=..." (encoded), or "" */
	const char *body;			/* request body, NULL for none */
	size_t		body_len;
	bool		content_md5;	/* check the body in flight: Content-MD5 if unsigned */
	const char *content_type;
	bool		sse;			/* x-amz-server-side-encryption: AES256 */
	MkS3Sink	sink;			/* GET body receiver (else kept in result) */
	void	   *sink_arg;
	void		(*sink_reset) (void *arg);	/* called before each retry */
	bool		body_hash_unsigned; /* sign UNSIGNED-PAYLOAD instead */
	const char *copy_source;	/* x-amz-copy-source (CopyObject), encoded */
} MkS3Request;

typedef struct MkS3Result
{
	long		status;			/* HTTP status, 0 when none came back */
	CURLcode	curl_rc;
	char		errbuf[CURL_ERROR_SIZE];
	StringInfoData body;		/* response body unless sunk (capped) */
	char		etag[256];
	int			attempts;		/* attempts made by the last request */
	int			retries;		/* retries made over the life of the result */
	bool		sink_stopped;
} MkS3Result;

extern void mk_s3_config_load(MkS3Config *cfg);

/*
 * The keys (backup/credentials.c): the settings, else the server's
 * environment or the AWS shared credentials file.
 */
extern void mk_s3_credentials_load(MkS3Config *cfg);
extern void mk_s3_credentials_init(void);
/* The secret values known to this process, for redaction; returns how many. */
#define MK_S3_SECRETS_MAX 10
extern int	mk_s3_secret_values(const char **out, int max);
/* Assign hook of the secret settings: remembers each value for redaction. */
extern void mk_s3_secret_assigned(const char *newval, void *extra);
extern char *mk_s3_profile;
extern CURL *mk_s3_curl_new(void);
extern void mk_s3_result_init(MkS3Result *res);

/* One request with retries; never raises: returns true on 2xx. */
extern bool mk_s3_request(CURL *curl, const MkS3Config *cfg, const MkS3Request *req,
						  MkS3Result *res, int max_attempts);

/* The same on a handle of its own, made and cleaned up here. */
extern bool mk_s3_call(const MkS3Config *cfg, const MkS3Request *req, MkS3Result *res);

/*
 * A request whose first attempt runs on a thread (an export's part upload,
 * overlapping COPY): start it, do other work, then wait for it (retries
 * happen there, in the backend).  Free also on the error path: it stops a
 * running transfer.  The request's body must stay untouched until waited.
 */
typedef struct MkS3Async MkS3Async;
extern MkS3Async *mk_s3_async_new(void);
extern void mk_s3_async_start(MkS3Async *a, const MkS3Config *cfg, const MkS3Request *req,
							  MkS3Result *res, int max_attempts);
extern bool mk_s3_async_done(MkS3Async *a);
extern bool mk_s3_async_wait(MkS3Async *a);
extern void mk_s3_async_free(MkS3Async *a);

/* Raise the ERROR for a failed request; 'what' names the operation. */
extern void mk_s3_report(const MkS3Result *res, const char *what, const char *bucket,
						 const char *key) pg_attribute_noreturn();

/* A short one-line description of a failure, for catalogue rows. */
extern char *mk_s3_describe(const MkS3Result *res);

/* Text between <tag> and </tag> in an XML body, or NULL. */
extern char *mk_xml_value(const char *xml, const char *tag);

/* Shared validation of a bucket name and an object key. */
extern void mk_s3_check_names(const char *bucket, const char *key);

/* Set up a pull-style GET (curl multi) for streaming into COPY FROM. */
typedef struct MkS3Stream MkS3Stream;
extern MkS3Stream *mk_s3_stream_open(const MkS3Config *cfg, const char *bucket,
									 const char *key);
extern int	mk_s3_stream_read(MkS3Stream *st, char *buf, int maxlen);
extern int64 mk_s3_stream_bytes(MkS3Stream *st);
extern void mk_s3_stream_close(MkS3Stream *st);

/* The settings (backup/settings.c), read when a request is configured. */
extern char *mk_s3_endpoint;
extern char *mk_s3_region;
extern int	mk_s3_uri_style;
extern char *mk_s3_access_key_id;
extern char *mk_s3_secret_access_key;
extern char *mk_s3_session_token;
extern bool mk_s3_verify_tls;
extern int	mk_s3_timeout;
extern int	mk_s3_max_retries;
extern int	mk_s3_retry_base;

#endif							/* MK_S3_CLIENT_H */
