/*
 * sigv4_test.c: the signer against AWS's published Signature Version 4
 * vectors.  Only vectors reproduced exactly from AWS's own material are
 * listed: the aws-sig-v4-test-suite cases (credential AKIDEXAMPLE, date
 * 20150830T123600Z, region us-east-1, service "service") and the S3
 * examples of "Signature Calculations for the Authorization Header:
 * Transferring Payload in a Single Chunk" (examplebucket, 20130524T000000Z).
 * Prints TAP; exits non-zero on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/s3_sigv4.h"

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static int	failures = 0,
			n = 0;

static void
ok(int cond, const char *name, const char *got, const char *want)
{
	n++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", n, name);
	if (!cond)
	{
		printf("#   got:  %s\n#   want: %s\n", got ? got : "(null)", want);
		failures++;
	}
}

static void
check(const char *name, const MkSigV4Request *req, const char *want_sig,
	  const char *want_creq)
{
	MkSigV4Result r;

	if (mk_sigv4_sign(req, &r) != 0)
	{
		ok(0, name, "sign failed", want_sig);
		return;
	}
	if (want_creq)
	{
		char		label[200];

		snprintf(label, sizeof(label), "%s: canonical request", name);
		ok(strcmp(r.canonical_request, want_creq) == 0, label, r.canonical_request, want_creq);
	}
	ok(strcmp(r.signature, want_sig) == 0, name, r.signature, want_sig);
	mk_sigv4_free(&r);
}

#define SUITE(req_, m, u, q, h, body_hash) \
	MkSigV4Request req_ = {m, u, q, h, (int) (sizeof(h) / sizeof(h[0])), body_hash, \
		"20150830T123600Z", "us-east-1", "service", "AKIDEXAMPLE", \
		"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
#define S3(req_, m, u, q, h, body_hash) \
	MkSigV4Request req_ = {m, u, q, h, (int) (sizeof(h) / sizeof(h[0])), body_hash, \
		"20130524T000000Z", "us-east-1", "s3", "AKIAIOSFODNN7EXAMPLE", \
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}

int
main(void)
{
	MkSigV4Header vanilla[] = {
		{"Host", "example.amazonaws.com"},
		{"X-Amz-Date", "20150830T123600Z"},
	};
	MkSigV4Header form[] = {
		{"Content-Type", "application/x-www-form-urlencoded"},
		{"Host", "example.amazonaws.com"},
		{"X-Amz-Date", "20150830T123600Z"},
	};
	MkSigV4Header s3_range[] = {
		{"Host", "examplebucket.s3.amazonaws.com"},
		{"Range", "bytes=0-9"},
		{"x-amz-content-sha256", EMPTY_SHA},
		{"x-amz-date", "20130524T000000Z"},
	};
	MkSigV4Header s3_put[] = {
		{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
		{"Host", "examplebucket.s3.amazonaws.com"},
		{"x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"},
		{"x-amz-date", "20130524T000000Z"},
		{"x-amz-storage-class", "REDUCED_REDUNDANCY"},
	};
	MkSigV4Header s3_get[] = {
		{"Host", "examplebucket.s3.amazonaws.com"},
		{"x-amz-content-sha256", EMPTY_SHA},
		{"x-amz-date", "20130524T000000Z"},
	};
	char		hex[65],
				b64[25];
	char	   *s;

	SUITE(get_vanilla, "GET", "/", "", vanilla, EMPTY_SHA);
	SUITE(get_vanilla_query, "GET", "/", "", vanilla, EMPTY_SHA);
	SUITE(get_order_key_case, "GET", "/", "Param2=value2&Param1=value1", vanilla, EMPTY_SHA);
	SUITE(post_form, "POST", "/", "", form,
		  "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
	S3(s3_get_object, "GET", "/test.txt", "", s3_range, EMPTY_SHA);
	S3(s3_put_object, "PUT", "/test%24file.text", "", s3_put,
	   "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	S3(s3_lifecycle, "GET", "/", "lifecycle", s3_get, EMPTY_SHA);
	S3(s3_list, "GET", "/", "prefix=J&max-keys=2", s3_get, EMPTY_SHA);

	printf("TAP version 13\n");
	mk_sha256_hex("", 0, hex);
	ok(strcmp(hex, EMPTY_SHA) == 0, "sha256 of the empty string", hex, EMPTY_SHA);
	mk_sha256_hex("Param1=value1", 13, hex);
	ok(strcmp(hex, post_form.payload_hash) == 0, "sha256 of the form body", hex, post_form.payload_hash);
	mk_sha256_hex("Welcome to Amazon S3.", 21, hex);
	ok(strcmp(hex, s3_put_object.payload_hash) == 0, "sha256 of the S3 PUT body", hex,
	   s3_put_object.payload_hash);
	/* RFC 1864's own example is not AWS's; the MD5 of "" is well known. */
	mk_md5_base64("", 0, b64);
	ok(strcmp(b64, "1B2M2Y8AsgTpgAmY7PhCfg==") == 0, "Content-MD5 of the empty body", b64,
	   "1B2M2Y8AsgTpgAmY7PhCfg==");
	s = mk_uri_encode("a b/c$d~e_f.g-h+i=j", 1);
	ok(strcmp(s, "a%20b/c%24d~e_f.g-h%2Bi%3Dj") == 0, "key encoding keeps / and unreserved", s,
	   "a%20b/c%24d~e_f.g-h%2Bi%3Dj");
	free(s);
	s = mk_sigv4_canonical_query("uploadId=X&partNumber=10&uploads");
	ok(strcmp(s, "partNumber=10&uploadId=X&uploads=") == 0, "canonical query sorts and adds =", s,
	   "partNumber=10&uploadId=X&uploads=");
	free(s);

	check("aws-sig-v4-test-suite get-vanilla", &get_vanilla,
		  "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		  "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
		  "host;x-amz-date\n" EMPTY_SHA);
	check("aws-sig-v4-test-suite get-vanilla-query", &get_vanilla_query,
		  "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", NULL);
	check("aws-sig-v4-test-suite get-vanilla-query-order-key-case", &get_order_key_case,
		  "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
		  "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
		  "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA);
	check("aws-sig-v4-test-suite post-x-www-form-urlencoded", &post_form,
		  "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a", NULL);
	check("S3 GET Object with Range", &s3_get_object,
		  "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		  "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
		  "x-amz-content-sha256:" EMPTY_SHA "\nx-amz-date:20130524T000000Z\n\n"
		  "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA);
	check("S3 PUT Object", &s3_put_object,
		  "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd", NULL);
	check("S3 GET Bucket Lifecycle", &s3_lifecycle,
		  "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", NULL);
	check("S3 GET Bucket (List Objects)", &s3_list,
		  "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", NULL);

	printf("1..%d\n", n);
	return failures ? 1 : 0;
}
