/*
 * s3_copy.h: what export, import, verify and restore share: the option
 * list, the gzip-aware byte source that feeds COPY FROM, the admin check.
 */
#ifndef MK_S3_COPY_H
#define MK_S3_COPY_H

#include "postgres.h"

#include <zlib.h>
#include <zstd.h>

#include "nodes/pg_list.h"

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
