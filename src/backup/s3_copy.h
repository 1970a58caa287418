/*
 * s3_copy.h: what export, import, verify and restore share: the option
 * list, the gzip-aware byte source that feeds COPY FROM, the admin check.
 */
#ifndef MK_S3_COPY_H
#define MK_S3_COPY_H

#include "postgres.h"

#include <zlib.h>
#include <zstd.h>

#include "libpq/libpq.h"
#include "nodes/pg_list.h"
#include "nodes/parsenodes.h"
#include "tcop/dest.h"

typedef enum MkCompression
{
	MK_COMPRESS_AUTO = -1,		/* import: gzip when the magic bytes say so */
	MK_COMPRESS_NONE = 0,
	MK_COMPRESS_GZIP = 1,
	MK_COMPRESS_ZSTD = 2
} MkCompression;

typedef struct MkS3Options
{
	MkCompression compression;
	int			level;			/* zlib or zstd level for export; 0 = default */
	int			workers;		/* zstd worker threads (export) */
	int			parallel;		/* parallel COPY workers (export); -1: the setting */
	char	   *key_id;			/* encrypt with this key (export), or NULL */
	int			part_size;		/* bytes per multipart part */
	bool		sse;			/* x-amz-server-side-encryption: AES256 */
	List	   *copy;			/* the remaining options, for COPY itself */
	List	   *attlist;		/* column names (import) */
} MkS3Options;

#define MK_PART_SIZE_DEFAULT (16 * 1024 * 1024)
#define MK_PART_SIZE_MIN (5 * 1024 * 1024)
#define MK_PART_SIZE_MAX (512 * 1024 * 1024)

/* raw_parser with errors pointing into sql (an internal query). */
extern List *mk_raw_parse(const char *sql, const char *label);

extern void mk_s3_parse_options(const char *options, const char *columns, bool is_from,
								MkS3Options *out);

/*
 * Progress of an export, restore or import, for a second session:
 * PostgreSQL's COPY progress slot (an extension cannot add a command type)
 * carries COPY's own counters in params 0-5 and ours in the spare ones;
 * mekatek.backup_progress() reads them from pg_stat_get_progress_info.
 * Outside COPY (the last upload, a download, a verification) we hold the
 * slot ourselves.
 */
#define MK_PROGRESS_MARK 10		/* = MK_PROGRESS_MAGIC while the slot is ours */
#define MK_PROGRESS_PHASE 11
#define MK_PROGRESS_PARTS 12	/* parts uploaded */
#define MK_PROGRESS_BYTES 13	/* bytes stored or downloaded */
#define MK_PROGRESS_RETRIES 14
#define MK_PROGRESS_MAGIC 19787
typedef enum MkProgressPhase
{
	MK_PHASE_EXPORTING = 1,		/* COPY TO, compressing, uploading parts */
	MK_PHASE_UPLOADING = 2,		/* the last part and the completion */
	MK_PHASE_DOWNLOADING = 3,
	MK_PHASE_VERIFYING = 4,		/* the tag of an encrypted object */
	MK_PHASE_LOADING = 5		/* COPY FROM */
} MkProgressPhase;

/* Mark the slot (starting a COPY command when none runs); true if started. */
extern bool mk_progress_begin(Oid relid, MkProgressPhase phase);
extern void mk_progress_update(int index, int64 value);
extern void mk_progress_end(bool started);

#define MK_BACKUP_ADMIN_HINT "Backups and restores need the mekatek_admin role."

/* zlib allocators on a memory context (opaque): freed with it on error. */
extern voidpf mk_zalloc(voidpf opaque, uInt items, uInt size);
extern void mk_zfree(voidpf opaque, voidpf address);

/* Bytes for COPY FROM: a raw reader, decompressed when it starts with gzip's or zstd's magic. */
typedef int (*MkReadFn) (void *arg, char *buf, int maxlen);	/* 0 at EOF */

typedef struct MkInflater
{
	MkReadFn	read;
	void	   *arg;
	MkCompression mode;			/* AUTO until the first bytes are seen */
	bool		eof;
	z_stream	z;
	bool		z_ready;
	ZSTD_DCtx  *zstd;			/* freed with cxt (a reset callback) */
	ZSTD_DCtx **zstd_holder;
	bool		zstd_frame_open;	/* inside a frame: the end would be a truncation */
	bool		progress_marked;
	MemoryContext cxt;			/* zlib's allocations */
	char	   *in;				/* compressed input buffer */
	int			inlen;
	int			inpos;
} MkInflater;

extern void mk_inflater_init(MkInflater *inf, MkReadFn read, void *arg, MkCompression mode);
extern int	mk_inflater_read(MkInflater *inf, char *buf, int minread, int maxread);
extern void mk_inflater_end(MkInflater *inf);

/* COPY FROM a byte source into a relation; returns the rows loaded. */
extern uint64 mk_copy_from_source(Oid relid, MkInflater *src, List *attlist, List *copy_options);

/* Bytes produced by a stage of an export, for the next one. */
typedef void (*MkBytesFn) (void *arg, const char *data, int len);

/* COPY TO STDOUT into fn (copy_redirect.c); one at a time per process. */
typedef struct MkCopyRedirect
{
	MkBytesFn	fn;
	void	   *arg;
	bool		on;
	const PQcommMethods *saved_methods;
	CommandDest saved_dest;
} MkCopyRedirect;

extern void mk_copy_redirect_on(MkCopyRedirect *r, MkBytesFn fn, void *arg);
extern void mk_copy_redirect_off(MkCopyRedirect *r);

/*
 * A query's rows as CSV into fn, the bytes COPY TO would write, without
 * COPY's row path (csv_fast.c); false, with nothing run, for options it
 * leaves to COPY.
 */
extern bool mk_csv_fast_copy(RawStmt *raw, const char *query, List *copy_options, MkBytesFn fn,
							 void *arg, uint64 *rows, uint64 *bytes);

/* gzip, zstd or nothing over staged COPY output (compressor.c). */
#define MK_STAGE_SIZE (256 * 1024)
typedef struct MkCompressor
{
	MkCompression mode;
	MkBytesFn	out;
	void	   *arg;
	MemoryContext cxt;			/* zlib's allocations, zstd's context */
	z_stream	z;
	bool		z_ready;
	ZSTD_CCtx **zc;				/* freed with cxt (a reset callback) */
	bool		zc_started;
	char	   *stage;
	int			stage_len;
	char	   *cbuf;			/* compressor output */
} MkCompressor;

extern void mk_compressor_init(MkCompressor *c, MkCompression mode, int level, int workers,
							   MkBytesFn out, void *arg);
extern void mk_compressor_write(MkCompressor *c, const char *data, int len);
/* End the gzip member or zstd frame; later writes begin a new one. */
extern void mk_compressor_end_frame(MkCompressor *c);
extern void mk_compressor_free(MkCompressor *c);

/*
 * Parallel COPY for an export (s3_export_parallel.c): workers each format
 * and compress block ranges of the one table the query reads, in the
 * caller's snapshot; their frames reach sink in block order.  False (and
 * nothing done) when the query or the settings call for one backend.
 */
#define MK_PARALLEL_WORKERS_MAX 16
extern int	mk_backup_parallel_workers;
extern int	mk_backup_parallel_chunk;
extern bool mk_backup_fast_csv;
extern bool mk_export_parallel(RawStmt *raw, const char *query, const char *options,
							   const MkS3Options *opts, MkBytesFn sink, void *arg,
							   bool *progress_started, uint64 *rows);

/* Export a query to one S3 object (s3_export.c). */
typedef struct MkExportResult
{
	uint64		rows;
	int64		bytes;
	char		sha256[65];
	int			attempts;		/* 1 + retries over all requests */
	int			parts;			/* 0 for a single PUT */
	bool		uploaded;		/* false when identical to skip_if_sha256 */
} MkExportResult;

extern void mk_s3_export_run(const char *query, const char *bucket, const char *key,
							 const char *options, const char *skip_if_sha256, Oid run_as,
							 MkExportResult *out);

#endif							/* MK_S3_COPY_H */
