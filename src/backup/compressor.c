/*
 * compressor.c: gzip (zlib) or zstd (libzstd) over a stream of COPY output,
 * shared by the export in the backend and its parallel workers.
 *
 * COPY hands over one small message per row; they are staged into blocks
 * of MK_STAGE_SIZE so that the compressor works on large inputs.  A frame
 * (a gzip member, a zstd frame) can be ended and a new one begun: the
 * parallel workers end one per block range, and concatenated members or
 * frames are one valid stream for gunzip, zstd and mk_inflater_read.
 */
#include "core/mekatek.h"

#include <signal.h>
#include <pthread.h>

#include "utils/memutils.h"

#include "backup/s3_copy.h"

static void
free_cctx_cb(void *arg)
{
	ZSTD_CCtx **cctx = arg;

	if (*cctx)
		ZSTD_freeCCtx(*cctx);
	*cctx = NULL;
}

void
mk_compressor_init(MkCompressor *c, MkCompression mode, int level, int workers,
				   MkBytesFn out, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->mode = mode;
	c->out = out;
	c->arg = arg;
	c->cxt = CurrentMemoryContext;
	c->stage = palloc(MK_STAGE_SIZE);
	c->cbuf = palloc(MK_STAGE_SIZE);
	if (mode == MK_COMPRESS_GZIP)
	{
		c->z.zalloc = mk_zalloc;
		c->z.zfree = mk_zfree;
		c->z.opaque = c->cxt;
		/* windowBits 15 + 16: a gzip wrapper; its mtime stays 0. */
		if (deflateInit2(&c->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "could not start gzip compression");
		c->z_ready = true;
	}
	else if (mode == MK_COMPRESS_ZSTD)
	{
		MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
		size_t		rc;

		c->zc = palloc0(sizeof(ZSTD_CCtx *));
		*c->zc = ZSTD_createCCtx();
		if (*c->zc == NULL)
			mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "could not start zstd compression");
		cb->func = free_cctx_cb;
		cb->arg = c->zc;
		MemoryContextRegisterResetCallback(c->cxt, cb);
		rc = ZSTD_CCtx_setParameter(*c->zc, ZSTD_c_compressionLevel, level);
		if (!ZSTD_isError(rc))
			rc = ZSTD_CCtx_setParameter(*c->zc, ZSTD_c_checksumFlag, 1);
		if (!ZSTD_isError(rc) && workers > 0)
			rc = ZSTD_CCtx_setParameter(*c->zc, ZSTD_c_nbWorkers, workers);
		if (ZSTD_isError(rc))
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "zstd refused its parameters: %s",
					 ZSTD_getErrorName(rc));
	}
}

static void
deflate_out(MkCompressor *c, const char *data, int len, int flush)
{
	c->z.next_in = (Bytef *) data;
	c->z.avail_in = len;
	for (;;)
	{
		int			rc;
		int			produced;

		c->z.next_out = (Bytef *) c->cbuf;
		c->z.avail_out = MK_STAGE_SIZE;
		rc = deflate(&c->z, flush);
		if (rc == Z_STREAM_ERROR)
			mk_error(ERRCODE_INTERNAL_ERROR, NULL, "gzip compression failed");
		produced = MK_STAGE_SIZE - c->z.avail_out;
		if (produced > 0)
			c->out(c->arg, c->cbuf, produced);
		if (rc == Z_STREAM_END ||
			(flush == Z_NO_FLUSH && c->z.avail_in == 0 && c->z.avail_out != 0))
			break;
	}
}

/*
 * zstd's worker threads compress while the backend goes on formatting
 * rows (as pg_basebackup's server-zstd does).  They are made during the
 * first call, with every signal blocked, so that PostgreSQL's signals are
 * only ever handled by the backend's own thread.
 */
static void
zstd_out(MkCompressor *c, const char *data, int len, bool end)
{
	ZSTD_inBuffer in = {data, (size_t) len, 0};
	sigset_t	all,
				saved;
	bool		first = !c->zc_started;

	if (first)
	{
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &saved);
		c->zc_started = true;
	}
	for (;;)
	{
		ZSTD_outBuffer out = {c->cbuf, MK_STAGE_SIZE, 0};
		size_t		rem = ZSTD_compressStream2(*c->zc, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);

		if (ZSTD_isError(rem))
		{
			if (first)
				pthread_sigmask(SIG_SETMASK, &saved, NULL);
			mk_error(ERRCODE_INTERNAL_ERROR, NULL, "zstd compression failed: %s", ZSTD_getErrorName(rem));
		}
		if (first)
		{
			pthread_sigmask(SIG_SETMASK, &saved, NULL);
			first = false;
		}
		if (out.pos > 0)
			c->out(c->arg, c->cbuf, (int) out.pos);
		if (end ? rem == 0 : in.pos == in.size)
			break;
	}
}

static void
compress_block(MkCompressor *c, const char *data, int len)
{
	if (c->mode == MK_COMPRESS_GZIP)
		deflate_out(c, data, len, Z_NO_FLUSH);
	else if (c->mode == MK_COMPRESS_ZSTD)
		zstd_out(c, data, len, false);
	else
		c->out(c->arg, data, len);
}

static void
flush_stage(MkCompressor *c)
{
	if (c->stage_len == 0)
		return;
	compress_block(c, c->stage, c->stage_len);
	c->stage_len = 0;
}

void
mk_compressor_write(MkCompressor *c, const char *data, int len)
{
	if (c->stage_len + len > MK_STAGE_SIZE)
		flush_stage(c);
	if (len > MK_STAGE_SIZE)
	{
		compress_block(c, data, len);
		return;
	}
	memcpy(c->stage + c->stage_len, data, len);
	c->stage_len += len;
}

void
mk_compressor_end_frame(MkCompressor *c)
{
	flush_stage(c);
	if (c->z_ready)
	{
		deflate_out(c, NULL, 0, Z_FINISH);
		/* The next bytes begin a new gzip member. */
		if (deflateReset(&c->z) != Z_OK)
			mk_error(ERRCODE_INTERNAL_ERROR, NULL, "gzip compression failed");
	}
	else if (c->zc)
		zstd_out(c, NULL, 0, true);
}

void
mk_compressor_free(MkCompressor *c)
{
	if (c->z_ready)
		deflateEnd(&c->z);
	c->z_ready = false;
}
