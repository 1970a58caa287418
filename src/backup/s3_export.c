/*
 * s3_export.c: mekatek.s3_export, the shape of aws_s3.query_export_to_s3.
 *
 * Rows are formatted by PostgreSQL's own COPY TO, redirected into us
 * (copy_redirect.c); when the query reads one table, by parallel workers
 * that each format and compress block ranges of it in our snapshot
 * (s3_export_parallel.c), so that formatting, the one stage a single
 * backend cannot overlap, spreads over the cores.
 *
 * The bytes are gzipped or zstd-compressed when asked (zstd with worker
 * threads of its own, so that compression overlaps COPY's formatting),
 * encrypted with AES-256-GCM when a key id is given (backup_crypt.c),
 * gathered in a part buffer of part_size bytes and sent as S3 multipart
 * parts (each body's SHA-256 signed, which S3 checks; Content-MD5 only for
 * an unsigned payload), each retried with exponential backoff.  A full
 * part is sent on a thread (s3_client.c, MkS3Async) while COPY fills the
 * other buffer, so that formatting, compression and upload overlap; the
 * backend waits for a part only when the next one is full.  A result
 * smaller than one part goes as one PUT of known length.  On any error the
 * part under way is stopped and the multipart upload aborted before the
 * ERROR propagates, so no partial object becomes visible.  Memory: two part
 * buffers + a 256 kB staging buffer + the compressor's state, whatever the
 * size of the result.
 */
#include "core/mekatek.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/copy.h"
#include "common/cryptohash.h"
#include "funcapi.h"
#include "libpq/libpq.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_node.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "backup/backup_crypt.h"
#include "backup/s3_client.h"
#include "backup/s3_copy.h"
#include "backup/s3_sigv4.h"

#define STAGE_SIZE MK_STAGE_SIZE
#define MAX_PARTS 10000

typedef struct ExportState
{
	MkS3Config	cfg;
	CURL	   *curl;
	const char *bucket;
	const char *key;
	MkS3Options opts;
	MemoryContext cxt;			/* lives as long as the export */
	MemoryContext tmp;			/* reset at each request */

	MkCompressor comp;			/* in the backend (no parallel workers) */
	bool		comp_ready;
	MkEncryptor enc;
	bool		encrypting;
	char	   *ebuf;
	bool		progress_marked;
	bool		progress_own;
	bool		progress_parallel;	/* the slot the parallel COPY started */
	char	   *part;			/* being filled */
	int			part_len;
	char	   *spare;			/* the other part buffer: the one uploading */

	/* The part being uploaded on a thread while COPY goes on. */
	MkS3Async  *up;
	MkS3Result	up_res;
	bool		up_inflight;
	int			up_partno;

	char	   *upload_id;
	List	   *etags;
	int			partno;
	pg_cryptohash_ctx *sha;
	int64		bytes;
	int			retries;

	MkCopyRedirect redirect;
} ExportState;

/* One export at a time in a session (COPY's redirection is one). */
static ExportState *current = NULL;

static void
request_or_raise(ExportState *es, MkS3Request *req, MkS3Result *res, const char *what)
{
	bool		ok = mk_s3_request(es->curl, &es->cfg, req, res, 1 + es->cfg.max_retries);

	es->retries += res->attempts - 1;
	if (!ok)
		mk_s3_report(res, what, es->bucket, es->key);
}

static void
create_upload(ExportState *es)
{
	MkS3Request req = {0};
	MkS3Result	res;

	mk_s3_result_init(&res);
	req.method = "POST";
	req.bucket = es->bucket;
	req.key = es->key;
	req.query = "uploads=";
	req.body = "";
	req.sse = es->opts.sse;
	request_or_raise(es, &req, &res, "CreateMultipartUpload");
	es->upload_id = mk_xml_value(res.body.data, "UploadId");
	if (es->upload_id == NULL || es->upload_id[0] == '\0')
		mk_error(ERRCODE_PROTOCOL_VIOLATION, NULL,
				 "S3 CreateMultipartUpload of \"%s/%s\" answered without an UploadId",
				 es->bucket, es->key);
}

/*
 * Wait for the part upload under way, if any, and record its ETag: called
 * before the next part starts and before the upload is completed.
 */
static void
collect_part(ExportState *es)
{
	MemoryContext old;
	char	   *what;
	bool		ok;

	if (!es->up_inflight)
		return;
	ok = mk_s3_async_wait(es->up);
	es->up_inflight = false;
	es->retries += es->up_res.attempts - 1;
	old = MemoryContextSwitchTo(es->cxt);
	what = psprintf("UploadPart %d", es->up_partno);
	if (!ok)
		mk_s3_report(&es->up_res, what, es->bucket, es->key);
	if (es->up_res.etag[0] == '\0')
		mk_error(ERRCODE_PROTOCOL_VIOLATION, NULL,
				 "S3 %s of \"%s/%s\" answered without an ETag", what, es->bucket, es->key);
	es->etags = lappend(es->etags, pstrdup(es->up_res.etag));
	mk_progress_update(MK_PROGRESS_PARTS, es->up_partno);
	mk_progress_update(MK_PROGRESS_BYTES, es->bytes);
	mk_progress_update(MK_PROGRESS_RETRIES, es->retries);
	MemoryContextSwitchTo(old);
}

/*
 * Send the part buffer as the next part: on the upload thread, while the
 * caller fills the other buffer.  Two part buffers are the memory bound.
 */
static void
upload_part(ExportState *es)
{
	MkS3Request req = {0};
	char	   *enc_id;
	char	   *filled;
	MemoryContext old;

	/* Called from inside COPY, whose contexts are reset per row. */
	old = MemoryContextSwitchTo(es->cxt);
	collect_part(es);
	if (es->upload_id == NULL)
		create_upload(es);
	if (++es->partno > MAX_PARTS)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "Use a larger part_size option.",
				 "S3 export of \"%s/%s\" needs more than %d parts of %d bytes",
				 es->bucket, es->key, MAX_PARTS, es->opts.part_size);
	if (es->up == NULL)
		es->up = mk_s3_async_new();
	if (es->spare == NULL)
		es->spare = palloc(es->opts.part_size);
	/* The last request's query and result lived here until collected. */
	MemoryContextReset(es->tmp);
	MemoryContextSwitchTo(es->tmp);
	mk_s3_result_init(&es->up_res);
	enc_id = mk_uri_encode(es->upload_id, 0);
	req.method = "PUT";
	req.bucket = es->bucket;
	req.key = es->key;
	req.query = psprintf("partNumber=%d&uploadId=%s", es->partno, enc_id);
	free(enc_id);
	req.body = es->part;
	req.body_len = es->part_len;
	req.content_md5 = true;
	es->up_partno = es->partno;
	mk_s3_async_start(es->up, &es->cfg, &req, &es->up_res, 1 + es->cfg.max_retries);
	es->up_inflight = true;
	/* COPY goes on into the other buffer. */
	filled = es->part;
	es->part = es->spare;
	es->spare = filled;
	es->part_len = 0;
	MemoryContextSwitchTo(old);
}

/* A full part buffer: hash it, then send it. */
static void
part_full(ExportState *es)
{
	pg_cryptohash_update(es->sha, (uint8 *) es->part, es->part_len);
	es->bytes += es->part_len;
	upload_part(es);
}

static void
append_part(ExportState *es, const char *data, int len)
{
	while (len > 0)
	{
		int			n = Min(len, es->opts.part_size - es->part_len);

		memcpy(es->part + es->part_len, data, n);
		es->part_len += n;
		data += n;
		len -= n;
		if (es->part_len == es->opts.part_size)
			part_full(es);
	}
}

/* Compressed bytes: encrypted when asked, then into the part buffer. */
static void
sink(ExportState *es, const char *data, int len)
{
	if (!es->encrypting)
	{
		append_part(es, data, len);
		return;
	}
	while (len > 0)
	{
		int			n = Min(len, STAGE_SIZE);

		mk_encryptor_update(&es->enc, data, n, es->ebuf);
		append_part(es, es->ebuf, n);
		data += n;
		len -= n;
	}
}

/* Compressed bytes, from the compressor here or from parallel workers. */
static void
sink_fn(void *arg, const char *data, int len)
{
	sink((ExportState *) arg, data, len);
}

/* COPY's rows, in the backend itself. */
static void
export_accept(void *arg, const char *data, int len)
{
	ExportState *es = arg;

	/* COPY TO holds the progress slot: add our phase and counters to it. */
	if (!es->progress_marked)
	{
		(void) mk_progress_begin(InvalidOid, MK_PHASE_EXPORTING);
		es->progress_marked = true;
	}
	mk_compressor_write(&es->comp, data, len);
}

static void
complete_upload(ExportState *es)
{
	StringInfoData xml;
	MkS3Request req = {0};
	MkS3Result	res;
	ListCell   *lc;
	int			n = 0;
	char	   *enc_id = mk_uri_encode(es->upload_id, 0);

	initStringInfo(&xml);
	appendStringInfoString(&xml, "<CompleteMultipartUpload>");
	foreach(lc, es->etags)
		appendStringInfo(&xml, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
						 ++n, (char *) lfirst(lc));
	appendStringInfoString(&xml, "</CompleteMultipartUpload>");
	mk_s3_result_init(&res);
	req.method = "POST";
	req.bucket = es->bucket;
	req.key = es->key;
	req.query = psprintf("uploadId=%s", enc_id);
	free(enc_id);
	req.body = xml.data;
	req.body_len = xml.len;
	req.content_type = "application/xml";
	request_or_raise(es, &req, &res, "CompleteMultipartUpload");
	es->upload_id = NULL;
}

/* Abort without raising: called on the error path, and for duplicates. */
static bool
abort_upload(ExportState *es, int attempts)
{
	MkS3Request req = {0};
	MkS3Result	res;
	char	   *enc_id;
	bool		ok;

	if (es->upload_id == NULL)
		return true;
	enc_id = mk_uri_encode(es->upload_id, 0);
	mk_s3_result_init(&res);
	req.method = "DELETE";
	req.bucket = es->bucket;
	req.key = es->key;
	req.query = psprintf("uploadId=%s", enc_id);
	free(enc_id);
	ok = mk_s3_request(es->curl, &es->cfg, &req, &res, attempts);
	/* 404 NoSuchUpload: nothing is left open either. */
	if (ok || res.status == 404)
	{
		es->upload_id = NULL;
		return true;
	}
	ereport(WARNING,
			(errcode(ERRCODE_IO_ERROR),
			 errmsg("S3 AbortMultipartUpload of \"%s/%s\" failed: %s", es->bucket, es->key,
					mk_s3_describe(&res)),
			 errhint("A lifecycle rule that aborts incomplete multipart uploads cleans this up.")));
	return false;
}

static void
put_single(ExportState *es)
{
	MkS3Request req = {0};
	MkS3Result	res;

	mk_s3_result_init(&res);
	req.method = "PUT";
	req.bucket = es->bucket;
	req.key = es->key;
	req.query = "";
	req.body = es->part;
	req.body_len = es->part_len;
	req.content_md5 = true;
	req.sse = es->opts.sse;
	request_or_raise(es, &req, &res, "PUT");
}

static RawStmt *
parse_query(const char *query)
{
	List	   *stmts = mk_raw_parse(query, "S3 export query");
	RawStmt    *raw;

	if (list_length(stmts) != 1)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Pass exactly one SELECT.",
				 "argument \"query\" must hold one statement, not %d", list_length(stmts));
	raw = linitial_node(RawStmt, stmts);
	if (!IsA(raw->stmt, SelectStmt))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Export a SELECT, VALUES or TABLE query.",
				 "argument \"query\" must be a query: %s", mk_quote_short(query));

	/*
	 * The rule of MkQueryReader: only read.  A data-modifying WITH is
	 * allowed at the top level only, so the top SelectStmt is where to look;
	 * anything a function in the query writes meets XactReadOnly below.
	 */
	{
		SelectStmt *sel = (SelectStmt *) raw->stmt;
		bool		modifies = sel->lockingClause != NIL;
		ListCell   *lc;

		if (sel->withClause)
			foreach(lc, sel->withClause->ctes)
			{
				CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

				if (!IsA(cte->ctequery, SelectStmt))
					modifies = true;
			}
		if (modifies)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "The query is only read; run any data change separately.",
					 "argument \"query\" must not modify or lock data: %s", mk_quote_short(query));
	}
	return raw;
}

void
mk_s3_export_run(const char *query, const char *bucket, const char *key,
				 const char *options, const char *skip_if_sha256, Oid run_as,
				 MkExportResult *out)
{
	Oid			save_userid;
	int			save_sec;
	bool		save_read_only = XactReadOnly;
	ExportState *es;
	MemoryContext cxt,
				old;
	RawStmt    *raw;

	mk_s3_check_names(bucket, key);
	if (current != NULL)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
				 "an S3 export is already running in this session");
	cxt = AllocSetContextCreate(CurrentMemoryContext, "mekatek s3 export", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	es = palloc0(sizeof(ExportState));
	es->cxt = cxt;
	es->tmp = AllocSetContextCreate(cxt, "mekatek s3 request", ALLOCSET_DEFAULT_SIZES);
	es->bucket = pstrdup(bucket);
	es->key = pstrdup(key);
	mk_s3_parse_options(options, NULL, false, &es->opts);
	raw = parse_query(query);
	mk_s3_config_load(&es->cfg);
	es->part = palloc(es->opts.part_size);
	/* PostgreSQL's cryptohash: released by the resource owner on error. */
	es->sha = pg_cryptohash_create(PG_SHA256);
	if (es->sha == NULL || pg_cryptohash_init(es->sha) < 0)
		mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "could not start SHA-256");
	if (es->opts.key_id)
	{
		mk_encryptor_init(&es->enc, es->opts.key_id);
		es->encrypting = true;
		es->ebuf = palloc(STAGE_SIZE);
		append_part(es, es->enc.header, es->enc.header_len);
	}
	es->curl = mk_s3_curl_new();
	MemoryContextSwitchTo(old);

	/*
	 * A backup target's query runs as the role that wrote it, and only for
	 * a caller that has that role's privileges (never a way up), as a
	 * security-restricted operation (no SET ROLE from inside the query),
	 * read-only: the rule REFRESH MATERIALIZED VIEW applies to its owner.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	if (OidIsValid(run_as) && !has_privs_of_role(save_userid, run_as))
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "Run backups as a superuser (pg_cron) or as a member of the role that wrote the target.",
				 "permission denied to export as role \"%s\"", GetUserNameFromId(run_as, false));

	current = es;
	PG_TRY();
	{
		uint8		digest[32];
		bool		parallel;

		if (OidIsValid(run_as))
			SetUserIdAndSecContext(run_as, save_sec | SECURITY_LOCAL_USERID_CHANGE |
								   SECURITY_RESTRICTED_OPERATION);
		XactReadOnly = true;
		/* Workers' frames go straight to encryption and the parts. */
		parallel = mk_export_parallel(raw, query, options, &es->opts, sink_fn, es,
									  &es->progress_parallel, &out->rows);
		if (!parallel)
		{
			ParseState *pstate = make_parsestate(NULL);
			CopyToState cstate;

			pstate->p_sourcetext = query;
			old = MemoryContextSwitchTo(cxt);
			mk_compressor_init(&es->comp, es->opts.compression, es->opts.level, es->opts.workers,
							   sink_fn, es);
			es->comp_ready = true;
			MemoryContextSwitchTo(old);
			mk_copy_redirect_on(&es->redirect, export_accept, es);
			cstate = BeginCopyTo(pstate, NULL, raw, InvalidOid, NULL, false, NIL, es->opts.copy);
			out->rows = DoCopyTo(cstate);
			EndCopyTo(cstate);
			mk_copy_redirect_off(&es->redirect);
			free_parsestate(pstate);
		}
		XactReadOnly = save_read_only;
		SetUserIdAndSecContext(save_userid, save_sec);

		/* COPY has ended and released the slot: the rest is ours. */
		es->progress_own = mk_progress_begin(InvalidOid, MK_PHASE_UPLOADING);
		/* Parts done: the one still on its thread is not. */
		mk_progress_update(MK_PROGRESS_PARTS, es->up_inflight ? es->partno - 1 : es->partno);
		mk_progress_update(MK_PROGRESS_BYTES, es->bytes);
		mk_progress_update(MK_PROGRESS_RETRIES, es->retries);
		old = MemoryContextSwitchTo(cxt);
		if (es->comp_ready)
			mk_compressor_end_frame(&es->comp);
		if (es->encrypting)
		{
			char		tag[MK_ENC_TAG_LEN];

			mk_encryptor_final(&es->enc, tag);
			append_part(es, tag, MK_ENC_TAG_LEN);
		}
		pg_cryptohash_update(es->sha, (uint8 *) es->part, es->part_len);
		es->bytes += es->part_len;
		if (pg_cryptohash_final(es->sha, digest, sizeof(digest)) < 0)
			mk_error(ERRCODE_INTERNAL_ERROR, NULL, "SHA-256 failed");
		mk_hex(digest, 32, out->sha256);
		out->uploaded = !(skip_if_sha256 && strcmp(skip_if_sha256, out->sha256) == 0);
		if (es->upload_id == NULL)
		{
			if (out->uploaded)
				put_single(es);
		}
		else
		{
			if (es->part_len > 0)
				upload_part(es);
			collect_part(es);
			if (out->uploaded)
				complete_upload(es);
			else
				abort_upload(es, 1 + es->cfg.max_retries);
		}
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		XactReadOnly = save_read_only;
		SetUserIdAndSecContext(save_userid, save_sec);
		mk_copy_redirect_off(&es->redirect);
		MemoryContextSwitchTo(cxt);
		/* Stop the part upload under way (its thread ends here). */
		mk_s3_async_free(es->up);
		es->up = NULL;
		/* Leave nothing half-written behind, then report the first error. */
		abort_upload(es, 2);
		curl_easy_cleanup(es->curl);
		if (es->comp_ready)
			mk_compressor_free(&es->comp);
		mk_progress_end(es->progress_own || es->progress_parallel);
		current = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();

	current = NULL;
	mk_progress_end(es->progress_own);
	out->bytes = es->bytes;
	out->attempts = 1 + es->retries;
	out->parts = es->partno;
	mk_s3_async_free(es->up);
	curl_easy_cleanup(es->curl);
	if (es->comp_ready)
		mk_compressor_free(&es->comp);
	pg_cryptohash_free(es->sha);
	MemoryContextDelete(cxt);
}

PG_FUNCTION_INFO_V1(mk_s3_export);

/* s3_export(query, bucket, key, options) -> rows, files, bytes uploaded. */
Datum
mk_s3_export(PG_FUNCTION_ARGS)
{
	char	   *query = mk_arg_cstring(fcinfo, 0, "query", false);
	char	   *bucket = mk_arg_cstring(fcinfo, 1, "bucket", false);
	char	   *key = mk_arg_cstring(fcinfo, 2, "key", false);
	char	   *options = PG_ARGISNULL(3) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(3));
	MkExportResult r = {0};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	mk_require_admin("mekatek.s3_export", MK_BACKUP_ADMIN_HINT);
	InitMaterializedSRF(fcinfo, 0);
	mk_s3_export_run(query, bucket, key, options, NULL, InvalidOid, &r);
	values[0] = Int64GetDatum((int64) r.rows);
	values[1] = Int64GetDatum(1);
	values[2] = Int64GetDatum(r.bytes);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(mk_backup_export_object);

/*
 * backup_export_object(query, bucket, key, options, skip_if_sha256, owner) ->
 * rows, bytes, sha256, attempts, uploaded: the export behind backup_run,
 * with the object's SHA-256 for the catalogue and duplicate avoidance.
 */
Datum
mk_backup_export_object(PG_FUNCTION_ARGS)
{
	char	   *query = mk_arg_cstring(fcinfo, 0, "query", false);
	char	   *bucket = mk_arg_cstring(fcinfo, 1, "bucket", false);
	char	   *key = mk_arg_cstring(fcinfo, 2, "key", false);
	char	   *options = PG_ARGISNULL(3) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(3));
	char	   *skip = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	Oid			run_as;
	MkExportResult r = {0};
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	mk_require_admin("mekatek.backup_export_object", MK_BACKUP_ADMIN_HINT);
	if (PG_ARGISNULL(5))
		mk_error(ERRCODE_NULL_VALUE_NOT_ALLOWED, NULL, "argument \"owner\" must not be null");
	run_as = get_role_oid(NameStr(*PG_GETARG_NAME(5)), false);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		mk_error(ERRCODE_FEATURE_NOT_SUPPORTED, NULL, "function returning record called in context that cannot accept type record");
	mk_s3_export_run(query, bucket, key, options, skip, run_as, &r);
	values[0] = Int64GetDatum((int64) r.rows);
	values[1] = Int64GetDatum(r.bytes);
	values[2] = CStringGetTextDatum(r.sha256);
	values[3] = Int32GetDatum(r.attempts);
	values[4] = BoolGetDatum(r.uploaded);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
