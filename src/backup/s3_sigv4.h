/*
 * s3_sigv4.h: AWS Signature Version 4, on OpenSSL's SHA-256 and HMAC.
 *
 * Plain C with malloc and no PostgreSQL headers, so that the same file is
 * linked into the extension and into the unit test that checks it against
 * AWS's published vectors (test/scripts/backup_sigv4.sh).  Nothing here
 * raises an error: functions return NULL or -1 and the caller reports.
 */
#ifndef MK_S3_SIGV4_H
#define MK_S3_SIGV4_H

#include <stddef.h>

typedef struct MkSigV4Header
{
	const char *name;			/* any case: lower-cased for signing */
	const char *value;			/* trimmed; no runs of spaces */
} MkSigV4Header;

typedef struct MkSigV4Request
{
	const char *method;			/* "GET", "PUT", ... */
	const char *canonical_uri;	/* already percent-encoded path */
	const char *query;			/* raw "a=1&b=2" (encoded parts), any order; "" */
	const MkSigV4Header *headers;	/* every header to sign, host included */
	int			nheaders;
	const char *payload_hash;	/* hex SHA-256 of the body or UNSIGNED-PAYLOAD */
	const char *amz_date;		/* "YYYYMMDDTHHMMSSZ" */
	const char *region;
	const char *service;
	const char *access_key;
	const char *secret_key;
} MkSigV4Request;

/* The parts of a signature, all malloc'd; free with mk_sigv4_free. */
typedef struct MkSigV4Result
{
	char	   *canonical_request;
	char	   *string_to_sign;
	char	   *signature;		/* 64 hex digits */
	char	   *authorization;	/* value of the Authorization header */
} MkSigV4Result;

extern int	mk_sigv4_sign(const MkSigV4Request *req, MkSigV4Result *out);
extern void mk_sigv4_free(MkSigV4Result *out);

/* Canonical query string: pairs sorted by key, then value; "=" always. */
extern char *mk_sigv4_canonical_query(const char *query);

/* RFC 3986 percent-encoding of everything but A-Za-z0-9-_.~ (and '/'). */
extern char *mk_uri_encode(const char *s, int keep_slash);

/* Hex digest helpers; out must hold 65 bytes. */
extern int	mk_sha256_hex(const void *data, size_t len, char *out);
extern void mk_hex(const unsigned char *in, size_t len, char *out);

/* Base64 of the MD5 of data (the Content-MD5 header); out holds 25 bytes. */
extern int	mk_md5_base64(const void *data, size_t len, char *out);

#endif							/* MK_S3_SIGV4_H */
