/*
 * catalog.c: the C side of the backup catalogue: digest of a stored
 * object (backup_verify), verified restore (backup_restore), delete
 * (backup_prune).  The catalogue, categories and retention are SQL
 * (src/backup/backup.sql).
 *
 * A restore downloads the whole object into a temporary file (BufFile, in
 * temp_tablespaces, removed at transaction end) while hashing it, compares
 * size and SHA-256 with the catalogue, and only then truncates the target
 * and loads it through COPY FROM: a corrupt or replaced object never
 * touches the table.  Everything happens in the caller's transaction.
 */
#include "core/mekatek.h"

#include "access/htup_details.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/buffile.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "backup/backup_crypt.h"
#include "backup/s3_client.h"
#include "backup/s3_copy.h"
#include "backup/s3_sigv4.h"

typedef struct Download
{
	pg_cryptohash_ctx *sha;
	int64		bytes;
	BufFile    *file;			/* NULL when only hashing */
	bool		keep;
} Download;

static bool
download_sink(void *arg, const char *data, size_t len)
{
	Download   *d = arg;

	pg_cryptohash_update(d->sha, (const uint8 *) data, len);
	d->bytes += len;
	/* A second session sees the download advance (backup_progress). */
	if ((d->bytes >> 20) != ((d->bytes - (int64) len) >> 20))
		mk_progress_update(MK_PROGRESS_BYTES, d->bytes);
	if (d->keep)
		BufFileWrite(d->file, (void *) data, len);
	return true;
}

/* A retry starts the download over. */
static void
download_reset(void *arg)
{
	Download   *d = arg;

	if (pg_cryptohash_init(d->sha) < 0)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "SHA-256 failed");
	d->bytes = 0;
	if (d->keep)
	{
		if (d->file)
			BufFileClose(d->file);
		d->file = BufFileCreateTemp(false);
	}
}

/* GET bucket/key into d, hashing; raises on failure. */
static void
download(const char *bucket, const char *key, Download *d, char *sha_hex)
{
	MkS3Config	cfg;
	MkS3Request req = {0};
	MkS3Result	res;
	bool		ok;
	uint8		digest[32];

	mk_s3_check_names(bucket, key);
	mk_s3_config_load(&cfg);
	d->sha = pg_cryptohash_create(PG_SHA256);
	if (d->sha == NULL)
		mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "could not start SHA-256");
	mk_s3_result_init(&res);
	req.method = "GET";
	req.bucket = bucket;
	req.key = key;
	req.query = "";
	req.sink = download_sink;
	req.sink_arg = d;
	req.sink_reset = download_reset;
	ok = mk_s3_call(&cfg, &req, &res);
	mk_progress_update(MK_PROGRESS_BYTES, d->bytes);
	mk_progress_update(MK_PROGRESS_RETRIES, res.retries);
	if (!ok)
		mk_s3_report(&res, "GET", bucket, key);
	if (pg_cryptohash_final(d->sha, digest, sizeof(digest)) < 0)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "SHA-256 failed");
	pg_cryptohash_free(d->sha);
	d->sha = NULL;
	mk_hex(digest, 32, sha_hex);
}

PG_FUNCTION_INFO_V1(mk_s3_object_digest);

/* s3_object_digest(bucket, key) -> bytes, sha256 of the stored object. */
Datum
mk_s3_object_digest(PG_FUNCTION_ARGS)
{
	char	   *bucket = mk_arg_cstring(fcinfo, 0, "bucket", false);
	char	   *key = mk_arg_cstring(fcinfo, 1, "key", false);
	Download	d = {0};
	char		sha[65];
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	bool		started;

	mk_require_admin("mekatek.s3_object_digest", MK_BACKUP_ADMIN_HINT);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		mk_error(ERRCODE_FEATURE_NOT_SUPPORTED, NULL, "function returning record called in context that cannot accept type record");
	started = mk_progress_begin(InvalidOid, MK_PHASE_DOWNLOADING);
	download(bucket, key, &d, sha);
	mk_progress_end(started);
	values[0] = Int64GetDatum(d.bytes);
	values[1] = CStringGetTextDatum(sha);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static int
buffile_read(void *arg, char *buf, int maxlen)
{
	return (int) BufFileRead((BufFile *) arg, buf, maxlen);
}

PG_FUNCTION_INFO_V1(mk_s3_restore);

/*
 * s3_restore(bucket, key, sha256, bytes, into regclass, replace, options)
 * -> rows loaded.  Verifies before it writes anything.
 */
Datum
mk_s3_restore(PG_FUNCTION_ARGS)
{
	char	   *bucket = mk_arg_cstring(fcinfo, 0, "bucket", false);
	char	   *key = mk_arg_cstring(fcinfo, 1, "key", false);
	char	   *want_sha = mk_arg_cstring(fcinfo, 2, "sha256", false);
	int64		want_bytes = DatumGetInt64(mk_arg_datum(fcinfo, 3, "bytes"));
	Oid			relid = DatumGetObjectId(mk_arg_datum(fcinfo, 4, "into_table"));
	bool		replace = DatumGetBool(mk_arg_datum(fcinfo, 5, "replace"));
	char	   *options = PG_ARGISNULL(6) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(6));
	Download	d = {0};
	char		sha[65];
	MkS3Options opts;
	MkInflater	inf;
	MkDecryptor dec;
	char		magic[MK_ENC_MAGIC_LEN];
	bool		encrypted;
	char	   *what;
	uint64		rows;
	bool		started;

	mk_require_admin("mekatek.s3_restore", MK_BACKUP_ADMIN_HINT);
	if (get_rel_name(relid) == NULL)
		mk_error(ERRCODE_UNDEFINED_TABLE, NULL, "relation with OID %u does not exist", relid);
	mk_s3_parse_options(options, NULL, true, &opts);

	d.keep = true;
	started = mk_progress_begin(relid, MK_PHASE_DOWNLOADING);
	download(bucket, key, &d, sha);
	if (d.bytes != want_bytes || strcmp(sha, want_sha) != 0)
		mk_error(ERRCODE_DATA_CORRUPTED,
				 "The stored object changed or was damaged; nothing was written. Restore another object.",
				 "S3 object \"%s/%s\" does not match the catalogue: %lld bytes with sha256 %s, expected %lld bytes with sha256 %s",
				 bucket, key, (long long) d.bytes, sha, (long long) want_bytes, want_sha);

	/*
	 * An encrypted object is decrypted once to check its tag (the right key,
	 * every byte as written) before anything is written, then again into
	 * COPY: the catalogue's SHA-256 alone would not catch a wrong key.
	 */
	what = psprintf("\"%s/%s\"", bucket, key);
	if (BufFileSeek(d.file, 0, 0, SEEK_SET) != 0)
		mk_error(ERRCODE_IO_ERROR, NULL, "could not rewind the downloaded object");
	encrypted = mk_is_encrypted(magic, (int) BufFileRead(d.file, magic, sizeof(magic)));
	if (encrypted)
	{
		if (BufFileSeek(d.file, 0, 0, SEEK_SET) != 0)
			mk_error(ERRCODE_IO_ERROR, NULL, "could not rewind the downloaded object");
		mk_progress_update(MK_PROGRESS_PHASE, MK_PHASE_VERIFYING);
		mk_decryptor_init(&dec, buffile_read, d.file, what);
		mk_decryptor_verify(&dec);
	}
	/* COPY FROM takes the slot over (and marks it loading). */
	mk_progress_end(started);

	if (replace)
	{
		char	   *sql = psprintf("TRUNCATE TABLE %s",
								   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
															  get_rel_name(relid)));

		if (SPI_connect() != SPI_OK_CONNECT)
			mk_error(ERRCODE_INTERNAL_ERROR, NULL, "SPI_connect failed");
		mk_spi_execute(sql, 0, NULL, NULL, NULL, false, 0, SPI_OK_UTILITY,
					   "s3_restore: emptying the table");
		SPI_finish();
	}
	if (BufFileSeek(d.file, 0, 0, SEEK_SET) != 0)
		mk_error(ERRCODE_IO_ERROR, NULL, "could not rewind the downloaded object");
	if (encrypted)
	{
		mk_decryptor_init(&dec, buffile_read, d.file, what);
		mk_inflater_init(&inf, mk_decryptor_read, &dec, opts.compression);
	}
	else
		mk_inflater_init(&inf, buffile_read, d.file, opts.compression);
	rows = mk_copy_from_source(relid, &inf, opts.attlist, opts.copy);
	mk_inflater_end(&inf);
	BufFileClose(d.file);
	PG_RETURN_INT64((int64) rows);
}

PG_FUNCTION_INFO_V1(mk_s3_delete_object);

/* s3_delete_object(bucket, key): true when deleted or already absent. */
Datum
mk_s3_delete_object(PG_FUNCTION_ARGS)
{
	char	   *bucket = mk_arg_cstring(fcinfo, 0, "bucket", false);
	char	   *key = mk_arg_cstring(fcinfo, 1, "key", false);
	MkS3Config	cfg;
	MkS3Request req = {0};
	MkS3Result	res;
	bool		ok;

	mk_require_admin("mekatek.s3_delete_object", MK_BACKUP_ADMIN_HINT);
	mk_s3_check_names(bucket, key);
	mk_s3_config_load(&cfg);
	mk_s3_result_init(&res);
	req.method = "DELETE";
	req.bucket = bucket;
	req.key = key;
	req.query = "";
	ok = mk_s3_call(&cfg, &req, &res);
	if (!ok && res.status != 404)
		mk_s3_report(&res, "DELETE", bucket, key);
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(mk_s3_copy_object);

/*
 * s3_copy_object(source_bucket, source_key, bucket, key): a server-side
 * CopyObject, so that a weekly or monthly object equal to an earlier one
 * is stored under its own category's prefix without uploading it again
 * (and retention of one category never deletes another's file).  True on
 * success; a failure is an ERROR.
 */
Datum
mk_s3_copy_object(PG_FUNCTION_ARGS)
{
	char	   *src_bucket = mk_arg_cstring(fcinfo, 0, "source_bucket", false);
	char	   *src_key = mk_arg_cstring(fcinfo, 1, "source_key", false);
	char	   *bucket = mk_arg_cstring(fcinfo, 2, "bucket", false);
	char	   *key = mk_arg_cstring(fcinfo, 3, "key", false);
	MkS3Config	cfg;
	MkS3Request req = {0};
	MkS3Result	res;
	char	   *src;

	mk_require_admin("mekatek.s3_copy_object", MK_BACKUP_ADMIN_HINT);
	mk_s3_check_names(src_bucket, src_key);
	mk_s3_check_names(bucket, key);
	mk_s3_config_load(&cfg);
	mk_s3_result_init(&res);
	/* The header is the URL-encoded "bucket/key" (AWS: x-amz-copy-source). */
	src = mk_uri_encode(psprintf("%s/%s", src_bucket, src_key), 1);
	if (src == NULL)
		mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "out of memory");
	req.method = "PUT";
	req.bucket = bucket;
	req.key = key;
	req.query = "";
	req.body = "";
	req.body_len = 0;
	req.copy_source = src;
	if (!mk_s3_call(&cfg, &req, &res))
	{
		free(src);
		mk_s3_report(&res, "CopyObject", bucket, key);
	}
	free(src);
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(mk_s3_object_size);

/*
 * s3_object_size(bucket, key): the stored object's size from a HEAD
 * request, NULL when the store says it is absent (404); any other failure,
 * the store unreachable above all, is an ERROR.  backup_run asks it before
 * recording a duplicate, so that a duplicate row always points at an
 * object that was there a moment ago.
 */
Datum
mk_s3_object_size(PG_FUNCTION_ARGS)
{
	char	   *bucket = mk_arg_cstring(fcinfo, 0, "bucket", false);
	char	   *key = mk_arg_cstring(fcinfo, 1, "key", false);
	MkS3Config	cfg;
	MkS3Request req = {0};
	MkS3Result	res;
	CURL	   *volatile curl = NULL;
	curl_off_t	size = -1;
	volatile bool ok = false;

	mk_require_admin("mekatek.s3_object_size", MK_BACKUP_ADMIN_HINT);
	mk_s3_check_names(bucket, key);
	mk_s3_config_load(&cfg);
	mk_s3_result_init(&res);
	req.method = "HEAD";
	req.bucket = bucket;
	req.key = key;
	req.query = "";
	/* A cancel during the request must not leak the handle (as mk_s3_call). */
	PG_TRY();
	{
		curl = mk_s3_curl_new();
		ok = mk_s3_request(curl, &cfg, &req, &res, 1 + cfg.max_retries);
	}
	PG_CATCH();
	{
		if (curl)
			curl_easy_cleanup(curl);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (ok && curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &size) != CURLE_OK)
		size = -1;
	curl_easy_cleanup(curl);
	if (!ok && res.status == 404)
		PG_RETURN_NULL();
	if (!ok)
		mk_s3_report(&res, "HEAD", bucket, key);
	if (size < 0)
		mk_error(ERRCODE_PROTOCOL_VIOLATION, NULL,
				 "HEAD of \"%s/%s\" returned no Content-Length", bucket, key);
	PG_RETURN_INT64((int64) size);
}
