/*
 * s3_sigv4.c: AWS Signature Version 4.
 *
 * The canonical request is built here rather than by CURLOPT_AWS_SIGV4:
 * libcurl 7.88 (Debian 12) neither canonicalises the query string nor adds
 * x-amz-content-sha256, and signs headers it then does not send.  Building
 * it ourselves means what is signed is exactly what is sent, on every
 * libcurl version.  The hashes and MACs are OpenSSL's.
 */
#include "backup/s3_sigv4.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* A growable malloc'd string; a failed allocation poisons it (data NULL). */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_init(Buf *b)
{
	b->cap = 256;
	b->len = 0;
	b->data = malloc(b->cap);
	if (b->data)
		b->data[0] = '\0';
}

static void
buf_addn(Buf *b, const char *s, size_t n)
{
	if (b->data == NULL)
		return;
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap;
		char	   *p;

		while (b->len + n + 1 > cap)
			cap *= 2;
		p = realloc(b->data, cap);
		if (p == NULL)
		{
			free(b->data);
			b->data = NULL;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_add(Buf *b, const char *s)
{
	buf_addn(b, s, strlen(s));
}

void
mk_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++)
	{
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int
mk_sha256_hex(const void *data, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
		return -1;
	mk_hex(md, mdlen, out);
	return 0;
}

int
mk_md5_base64(const void *data, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL))
		return -1;
	EVP_EncodeBlock((unsigned char *) out, md, (int) mdlen);
	return 0;
}

char *
mk_uri_encode(const char *s, int keep_slash)
{
	Buf			b;

	buf_init(&b);
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
			(c == '/' && keep_slash))
			buf_addn(&b, (const char *) &c, 1);
		else
		{
			char		esc[4];

			snprintf(esc, sizeof(esc), "%%%02X", c);
			buf_addn(&b, esc, 3);
		}
	}
	return b.data;
}

typedef struct Pair
{
	char	   *key;
	char	   *value;
} Pair;

static int
pair_cmp(const void *a, const void *b)
{
	const Pair *x = a,
			   *y = b;
	int			c = strcmp(x->key, y->key);

	return c != 0 ? c : strcmp(x->value, y->value);
}

char *
mk_sigv4_canonical_query(const char *query)
{
	char	   *copy;
	Pair	   *pairs;
	int			n = 0,
				cap = 1;
	Buf			b;
	char	   *save = NULL;

	for (const char *p = query; *p; p++)
		if (*p == '&')
			cap++;
	copy = strdup(query);
	pairs = calloc(cap, sizeof(Pair));
	if (copy == NULL || pairs == NULL)
	{
		free(copy);
		free(pairs);
		return NULL;
	}
	for (char *tok = strtok_r(copy, "&", &save); tok; tok = strtok_r(NULL, "&", &save))
	{
		char	   *eq = strchr(tok, '=');

		pairs[n].key = tok;
		pairs[n].value = "";
		if (eq)
		{
			*eq = '\0';
			pairs[n].value = eq + 1;
		}
		n++;
	}
	qsort(pairs, n, sizeof(Pair), pair_cmp);
	buf_init(&b);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			buf_add(&b, "&");
		buf_add(&b, pairs[i].key);
		buf_add(&b, "=");
		buf_add(&b, pairs[i].value);
	}
	free(copy);
	free(pairs);
	return b.data;
}

typedef struct CanonHeader
{
	char	   *name;
	char	   *value;
} CanonHeader;

static int
header_cmp(const void *a, const void *b)
{
	return strcmp(((const CanonHeader *) a)->name, ((const CanonHeader *) b)->name);
}

/* Lower-case the name; trim the value and fold runs of spaces into one. */
static int
canon_header(const MkSigV4Header *h, CanonHeader *out)
{
	size_t		nl = strlen(h->name);
	const char *v = h->value;
	char	   *w;

	out->name = malloc(nl + 1);
	out->value = malloc(strlen(v) + 1);
	if (out->name == NULL || out->value == NULL)
		return -1;
	for (size_t i = 0; i <= nl; i++)
		out->name[i] = (char) tolower((unsigned char) h->name[i]);
	while (*v == ' ' || *v == '\t')
		v++;
	w = out->value;
	for (; *v; v++)
	{
		if ((*v == ' ' || *v == '\t') && w > out->value && w[-1] == ' ')
			continue;
		*w++ = (*v == '\t') ? ' ' : *v;
	}
	while (w > out->value && w[-1] == ' ')
		w--;
	*w = '\0';
	return 0;
}

static int
hmac(const void *key, size_t keylen, const char *msg, unsigned char *out)
{
	unsigned int outlen;

	return HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) msg,
				strlen(msg), out, &outlen) ? 0 : -1;
}

int
mk_sigv4_sign(const MkSigV4Request *req, MkSigV4Result *out)
{
	CanonHeader *hs;
	Buf			creq,
				signed_headers,
				sts,
				scope,
				auth;
	char	   *cquery;
	char		date[9];
	char		creq_hash[65];
	unsigned char k1[32],
				k2[32],
				k3[32],
				k4[32],
				sig[32];
	Buf			ksecret;
	int			rc = -1;

	memset(out, 0, sizeof(*out));
	hs = calloc(req->nheaders > 0 ? req->nheaders : 1, sizeof(CanonHeader));
	if (hs == NULL)
		return -1;
	for (int i = 0; i < req->nheaders; i++)
		if (canon_header(&req->headers[i], &hs[i]) != 0)
			goto done_headers;
	qsort(hs, req->nheaders, sizeof(CanonHeader), header_cmp);

	cquery = mk_sigv4_canonical_query(req->query ? req->query : "");
	buf_init(&creq);
	buf_init(&signed_headers);
	buf_add(&creq, req->method);
	buf_add(&creq, "\n");
	buf_add(&creq, req->canonical_uri);
	buf_add(&creq, "\n");
	buf_add(&creq, cquery ? cquery : "");
	buf_add(&creq, "\n");
	for (int i = 0; i < req->nheaders; i++)
	{
		buf_add(&creq, hs[i].name);
		buf_add(&creq, ":");
		buf_add(&creq, hs[i].value);
		buf_add(&creq, "\n");
		if (i > 0)
			buf_add(&signed_headers, ";");
		buf_add(&signed_headers, hs[i].name);
	}
	buf_add(&creq, "\n");
	buf_add(&creq, signed_headers.data ? signed_headers.data : "");
	buf_add(&creq, "\n");
	buf_add(&creq, req->payload_hash);
	free(cquery);

	memcpy(date, req->amz_date, 8);
	date[8] = '\0';
	buf_init(&scope);
	buf_add(&scope, date);
	buf_add(&scope, "/");
	buf_add(&scope, req->region);
	buf_add(&scope, "/");
	buf_add(&scope, req->service);
	buf_add(&scope, "/aws4_request");

	buf_init(&sts);
	buf_init(&ksecret);
	buf_init(&auth);
	if (creq.data == NULL || signed_headers.data == NULL || scope.data == NULL ||
		sts.data == NULL || ksecret.data == NULL || auth.data == NULL)
		goto done;
	if (mk_sha256_hex(creq.data, creq.len, creq_hash) != 0)
		goto done;
	buf_add(&sts, "AWS4-HMAC-SHA256\n");
	buf_add(&sts, req->amz_date);
	buf_add(&sts, "\n");
	buf_add(&sts, scope.data);
	buf_add(&sts, "\n");
	buf_add(&sts, creq_hash);

	buf_add(&ksecret, "AWS4");
	buf_add(&ksecret, req->secret_key);
	if (sts.data == NULL || ksecret.data == NULL ||
		hmac(ksecret.data, ksecret.len, date, k1) != 0 ||
		hmac(k1, 32, req->region, k2) != 0 ||
		hmac(k2, 32, req->service, k3) != 0 ||
		hmac(k3, 32, "aws4_request", k4) != 0 ||
		hmac(k4, 32, sts.data, sig) != 0)
		goto done;

	out->signature = malloc(65);
	if (out->signature == NULL)
		goto done;
	mk_hex(sig, 32, out->signature);
	buf_add(&auth, "AWS4-HMAC-SHA256 Credential=");
	buf_add(&auth, req->access_key);
	buf_add(&auth, "/");
	buf_add(&auth, scope.data);
	buf_add(&auth, ", SignedHeaders=");
	buf_add(&auth, signed_headers.data);
	buf_add(&auth, ", Signature=");
	buf_add(&auth, out->signature);
	if (auth.data == NULL)
		goto done;
	out->canonical_request = creq.data;
	out->string_to_sign = sts.data;
	out->authorization = auth.data;
	creq.data = sts.data = auth.data = NULL;
	rc = 0;

done:
	/* The secret and every key derived from it leave no trace in memory. */
	if (ksecret.data)
		OPENSSL_cleanse(ksecret.data, ksecret.len);
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	OPENSSL_cleanse(k3, sizeof(k3));
	OPENSSL_cleanse(k4, sizeof(k4));
	free(ksecret.data);
	free(creq.data);
	free(signed_headers.data);
	free(scope.data);
	free(sts.data);
	free(auth.data);
	if (rc != 0)
		mk_sigv4_free(out);
done_headers:
	for (int i = 0; i < req->nheaders; i++)
	{
		free(hs[i].name);
		free(hs[i].value);
	}
	free(hs);
	return rc;
}

void
mk_sigv4_free(MkSigV4Result *out)
{
	free(out->canonical_request);
	free(out->string_to_sign);
	free(out->signature);
	free(out->authorization);
	memset(out, 0, sizeof(*out));
}
