/*
 * s3_export_parallel.c: an export's COPY formatted by parallel workers, as
 * pg_dump -j spreads a dump over several sessions.
 *
 * One backend formats about 250 MB of CSV a second at best: COPY TO's
 * output functions, not compression or upload, are what limits an export
 * once those overlap.  So when the query reads one heap table (TABLE t,
 * SELECT cols FROM t WHERE ...), parallel workers each COPY block ranges of
 * it (a TID range scan: ctid >= '(a,0)' AND ctid < '(b,0)') and compress
 * every range into a frame of its own: a gzip member or a zstd frame.
 * Concatenated, they are one valid stream (gunzip, zstd -d and
 * mk_inflater_read all read on across members and frames).
 *
 * PostgreSQL's parallel-context machinery (what parallel query and
 * parallel CREATE INDEX use) gives the workers the leader's transaction,
 * snapshot, user and security context, so an export by workers sees
 * exactly the rows the backend's own COPY would see, and a backup set
 * stays consistent; a worker's ERROR is raised in the leader, and
 * cancelling the leader stops the workers.
 *
 * Order: ranges are claimed in block order from a shared counter, and the
 * leader reads them back in that order (each worker's queue holds its
 * ranges in the order it claimed them), so the object's rows are in
 * physical order, as the table's sequential scan gives them, and the same
 * table gives the same bytes (backup_run's duplicate check relies on it).
 * The leader does what must be done once over the whole object: the
 * AES-256-GCM stream (one IV and tag per object, backup_crypt.h), the
 * SHA-256, the part buffers and the uploads (s3_export.c).
 *
 * Memory: the leader's is the serial export's minus the compressor; the
 * queues are shared memory (QUEUE_SIZE per worker); each worker holds one
 * range's COPY state and its compressor.
 */
#include "core/mekatek.h"

#include "access/parallel.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "commands/copy.h"
#include "commands/defrem.h"
#include "commands/progress.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/clauses.h"
#include "parser/parse_node.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "backup/s3_copy.h"

int			mk_backup_parallel_workers = 2;
int			mk_backup_parallel_chunk = 1024;	/* blocks: 8 MB of heap */
bool		mk_backup_fast_csv = true;

#define KEY_SHARED 1
#define KEY_QUERY 2
#define KEY_OPTIONS 3
#define KEY_QUEUES 4
#define QUEUE_SIZE (2 * 1024 * 1024)

#define MSG_DATA 'd'
#define MSG_END 'e'				/* a range is done: rows, COPY bytes */

typedef struct ExportShared
{
	PGPROC	   *leader;			/* whose latch a claim sets */
	uint32		nchunks;
	uint32		chunk_blocks;
	bool		fast_csv;		/* mekatek.backup_fast_csv, the leader's */
	char		encoding[NAMEDATALEN];	/* COPY's encoding option, or "" */
	pg_atomic_uint32 next_chunk;
	pg_atomic_uint32 owner[FLEXIBLE_ARRAY_MEMBER];	/* worker number + 1 */
} ExportShared;

typedef struct RangeEnd
{
	uint64		rows;
	uint64		bytes;
} RangeEnd;

PGDLLEXPORT void mk_export_parallel_main(dsm_segment *seg, shm_toc *toc);

static bool
has_option(List *copy, const char *name, const char *value)
{
	ListCell   *lc;

	foreach(lc, copy)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, name) == 0)
			return value == NULL || pg_strcasecmp(defGetString(d), value) == 0;
	}
	return false;
}

/*
 * The table a query reads, when its rows are the union of what it gives
 * for each block range of that table, in order: one plain heap table in
 * FROM, no aggregate, grouping, window, DISTINCT, ORDER BY, LIMIT, WITH or
 * subquery (one could read a temporary table, which workers cannot), nothing
 * parallel-restricted (temporary tables, row security, PARALLEL RESTRICTED
 * or UNSAFE functions).  Else InvalidOid.
 */
static Oid
single_table(RawStmt *raw, const char *query, BlockNumber *nblocks)
{
	SelectStmt *sel = (SelectStmt *) raw->stmt;
	List	   *queries;
	Query	   *q;
	RangeTblEntry *rte;
	Relation	rel;
	bool		ok;

	if (!IsA(sel, SelectStmt) || sel->op != SETOP_NONE || sel->valuesLists || sel->intoClause ||
		sel->distinctClause || sel->groupClause || sel->havingClause || sel->windowClause ||
		sel->sortClause || sel->limitCount || sel->limitOffset || sel->lockingClause ||
		sel->withClause || list_length(sel->fromClause) != 1 ||
		!IsA(linitial(sel->fromClause), RangeVar))
		return InvalidOid;
	/* Analysis may scribble on its input; COPY analyses the query again. */
	queries = pg_analyze_and_rewrite_fixedparams(copyObject(raw), query, NULL, 0, NULL);
	if (list_length(queries) != 1)
		return InvalidOid;
	q = linitial_node(Query, queries);
	if (q->commandType != CMD_SELECT || q->utilityStmt || q->hasAggs || q->hasWindowFuncs ||
		q->groupingSets || q->hasModifyingCTE || q->hasForUpdate || q->hasRowSecurity ||
		q->hasSubLinks || list_length(q->rtable) != 1)
		return InvalidOid;
	rte = linitial_node(RangeTblEntry, q->rtable);
	if (rte->rtekind != RTE_RELATION || rte->tablesample)
		return InvalidOid;
	if (max_parallel_hazard(q) != PROPARALLEL_SAFE)
		return InvalidOid;
	/* Locked by the analysis, until the transaction ends. */
	rel = relation_open(rte->relid, NoLock);
	ok = (rel->rd_rel->relkind == RELKIND_RELATION || rel->rd_rel->relkind == RELKIND_MATVIEW) &&
		rel->rd_rel->relam == HEAP_TABLE_AM_OID &&
		rel->rd_rel->relpersistence != RELPERSISTENCE_TEMP &&
		!rel->rd_rel->relrowsecurity &&
		!(rte->inh && has_subclass(rte->relid));
	if (ok)
		*nblocks = RelationGetNumberOfBlocks(rel);
	relation_close(rel, NoLock);
	return ok ? rte->relid : InvalidOid;
}

static bool
workers_stopped(ParallelContext *pcxt)
{
	for (int i = 0; i < pcxt->nworkers_launched; i++)
	{
		pid_t		pid;

		if (GetBackgroundWorkerPid(pcxt->worker[i].bgwhandle, &pid) != BGWH_STOPPED)
			return false;
	}
	return true;
}

static void
workers_lost(ParallelContext *pcxt)
{
	/* Raises a worker's own ERROR, if one sent it. */
	WaitForParallelWorkersToFinish(pcxt);
	mk_error(ERRCODE_INTERNAL_ERROR, NULL,
			 "a parallel worker of the S3 export ended before its block range was done");
}

/* The worker that claimed range c (claims go in order: it comes). */
static int
range_owner(ParallelContext *pcxt, ExportShared *sh, uint32 c)
{
	for (;;)
	{
		uint32		o = pg_atomic_read_u32(&sh->owner[c]);

		if (o != 0)
			return (int) o - 1;
		if (workers_stopped(pcxt))
			workers_lost(pcxt);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* The context of the export under way, for the error path (one per session). */
static ParallelContext *active_pcxt = NULL;

/*
 * Start the workers and pass their frames on, range by range; false when
 * no worker could be had (nothing was read).
 */
static bool
run_workers(Oid relid, uint32 nchunks, int nworkers, const char *query, const char *options,
			const MkS3Options *opts, MkBytesFn sink, void *arg, bool *progress_started,
			uint64 *rows)
{
	ParallelContext *pcxt;
	ExportShared *sh;
	char	   *queues;
	char	   *text;
	shm_mq_handle **mqh;
	Size		shared_size;
	uint64		total_rows = 0,
				total_bytes = 0;

	pcxt = active_pcxt = CreateParallelContext("$libdir/mekatek", "mk_export_parallel_main", nworkers);
	shared_size = add_size(offsetof(ExportShared, owner),
						   mul_size(nchunks, sizeof(pg_atomic_uint32)));
	shm_toc_estimate_chunk(&pcxt->estimator, shared_size);
	shm_toc_estimate_chunk(&pcxt->estimator, strlen(query) + 1);
	shm_toc_estimate_chunk(&pcxt->estimator, strlen(options) + 1);
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(QUEUE_SIZE, nworkers));
	shm_toc_estimate_keys(&pcxt->estimator, 4);
	InitializeParallelDSM(pcxt);
	/* No dynamic shared memory to be had: one backend, then. */
	if (pcxt->seg == NULL)
		return false;
	sh = shm_toc_allocate(pcxt->toc, shared_size);
	memset(sh, 0, shared_size);
	sh->leader = MyProc;
	sh->nchunks = nchunks;
	sh->chunk_blocks = mk_backup_parallel_chunk;
	sh->fast_csv = mk_backup_fast_csv;
	/* Workers speak the database's encoding; COPY converts as it would here. */
	if (pg_get_client_encoding() != GetDatabaseEncoding() &&
		!has_option(opts->copy, "encoding", NULL))
		strlcpy(sh->encoding, pg_get_client_encoding_name(), NAMEDATALEN);
	pg_atomic_init_u32(&sh->next_chunk, 0);
	for (uint32 i = 0; i < nchunks; i++)
		pg_atomic_init_u32(&sh->owner[i], 0);
	shm_toc_insert(pcxt->toc, KEY_SHARED, sh);
	text = shm_toc_allocate(pcxt->toc, strlen(query) + 1);
	strcpy(text, query);
	shm_toc_insert(pcxt->toc, KEY_QUERY, text);
	text = shm_toc_allocate(pcxt->toc, strlen(options) + 1);
	strcpy(text, options);
	shm_toc_insert(pcxt->toc, KEY_OPTIONS, text);
	queues = shm_toc_allocate(pcxt->toc, mul_size(QUEUE_SIZE, nworkers));
	for (int i = 0; i < nworkers; i++)
		shm_mq_set_receiver(shm_mq_create(queues + (Size) i * QUEUE_SIZE, QUEUE_SIZE), MyProc);
	shm_toc_insert(pcxt->toc, KEY_QUEUES, queues);
	LaunchParallelWorkers(pcxt);
	/* No background worker slot free: one backend, then. */
	if (pcxt->nworkers_launched == 0)
		return false;
	mqh = palloc(sizeof(shm_mq_handle *) * pcxt->nworkers_launched);
	for (int i = 0; i < pcxt->nworkers_launched; i++)
		mqh[i] = shm_mq_attach((shm_mq *) (queues + (Size) i * QUEUE_SIZE), pcxt->seg,
							   pcxt->worker[i].bgwhandle);

	*progress_started = mk_progress_begin(relid, MK_PHASE_EXPORTING);
	pgstat_progress_update_param(PROGRESS_COPY_COMMAND, PROGRESS_COPY_COMMAND_TO);
	pgstat_progress_update_param(PROGRESS_COPY_TYPE, PROGRESS_COPY_TYPE_CALLBACK);
	for (uint32 c = 0; c < nchunks; c++)
	{
		int			w = range_owner(pcxt, sh, c);

		for (;;)
		{
			Size		n;
			void	   *data;
			const char *msg;

			if (shm_mq_receive(mqh[w], &n, &data, false) != SHM_MQ_SUCCESS)
				workers_lost(pcxt);
			msg = data;
			if (n >= 1 && msg[0] == MSG_DATA)
				sink(arg, msg + 1, (int) (n - 1));
			else if (n == 1 + sizeof(RangeEnd) && msg[0] == MSG_END)
			{
				RangeEnd	e;

				memcpy(&e, msg + 1, sizeof(e));
				total_rows += e.rows;
				total_bytes += e.bytes;
				pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED, total_rows);
				pgstat_progress_update_param(PROGRESS_COPY_BYTES_PROCESSED, total_bytes);
				break;
			}
			else
				mk_error(ERRCODE_INTERNAL_ERROR, NULL,
						 "unexpected message from a parallel worker of the S3 export");
		}
	}
	WaitForParallelWorkersToFinish(pcxt);
	*rows = total_rows;
	return true;
}

bool
mk_export_parallel(RawStmt *raw, const char *query, const char *options,
				   const MkS3Options *opts, MkBytesFn sink, void *arg,
				   bool *progress_started, uint64 *rows)
{
	int			nworkers = opts->parallel >= 0 ? opts->parallel : mk_backup_parallel_workers;
	BlockNumber nblocks = 0;
	uint32		nchunks;
	Oid			relid;
	volatile bool done = false;

	*progress_started = false;
	if (nworkers <= 0 || IsInParallelMode() || !IsUnderPostmaster ||
		has_option(opts->copy, "format", "binary"))
		return false;			/* binary COPY has a header and trailer per COPY */
	relid = single_table(raw, query, &nblocks);
	if (!OidIsValid(relid))
		return false;
	nchunks = (nblocks + mk_backup_parallel_chunk - 1) / mk_backup_parallel_chunk;
	if (nchunks < 2)
		return false;			/* launching workers costs more than one range */

	/* As COPY does: the caller's snapshot, seeing its earlier commands. */
	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();
	EnterParallelMode();
	PG_TRY();
	{
		done = run_workers(relid, nchunks, Min(nworkers, (int) nchunks), query, options, opts, sink, arg,
						   progress_started, rows);
	}
	PG_CATCH();
	{
		if (active_pcxt != NULL)
			DestroyParallelContext(active_pcxt);
		active_pcxt = NULL;
		ExitParallelMode();
		PG_RE_THROW();
	}
	PG_END_TRY();
	DestroyParallelContext(active_pcxt);
	active_pcxt = NULL;
	ExitParallelMode();
	PopActiveSnapshot();
	if (!done)
		return false;
	mk_progress_end(*progress_started);
	*progress_started = false;
	return true;
}

/* A worker: its queue, its compressor, the current range's COPY bytes. */
typedef struct WorkerState
{
	shm_mq_handle *mqh;
	MkCompressor comp;
	MkCopyRedirect redirect;
	uint64		bytes;
} WorkerState;

static void
worker_send(void *arg, const char *data, int len)
{
	WorkerState *ws = arg;
	char		tag = MSG_DATA;
	shm_mq_iovec iov[2] = {{&tag, 1}, {data, (Size) len}};

	if (shm_mq_sendv(ws->mqh, iov, 2, false, false) != SHM_MQ_SUCCESS)
		ereport(ERROR, (errcode(ERRCODE_ADMIN_SHUTDOWN),
						errmsg("the S3 export's leader stopped reading")));
}

static void
worker_accept(void *arg, const char *data, int len)
{
	WorkerState *ws = arg;

	ws->bytes += len;
	mk_compressor_write(&ws->comp, data, len);
}

/* csv_fast.c's bytes: already counted there. */
static void
worker_compress(void *arg, const char *data, int len)
{
	WorkerState *ws = arg;

	mk_compressor_write(&ws->comp, data, len);
}

/* ctid >= '(lo,0)' AND ctid < '(hi,0)'; lo 0 and the last range are open. */
static Node *
block_range(uint32 c, const ExportShared *sh)
{
	StringInfoData sql;
	bool		first = c == 0,
				last = c == sh->nchunks - 1;
	List	   *stmts;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT WHERE ");
	if (!first)
		appendStringInfo(&sql, "ctid OPERATOR(pg_catalog.>=) '(%u,0)'::pg_catalog.tid",
						 c * sh->chunk_blocks);
	if (!first && !last)
		appendStringInfoString(&sql, " AND ");
	if (!last)
		appendStringInfo(&sql, "ctid OPERATOR(pg_catalog.<) '(%u,0)'::pg_catalog.tid",
						 (c + 1) * sh->chunk_blocks);
	stmts = raw_parser(sql.data, RAW_PARSE_DEFAULT);
	return ((SelectStmt *) linitial_node(RawStmt, stmts)->stmt)->whereClause;
}

static void
copy_range(WorkerState *ws, const ExportShared *sh, const char *query, const MkS3Options *opts,
		   uint32 c)
{
	RawStmt    *raw = linitial_node(RawStmt, raw_parser(query, RAW_PARSE_DEFAULT));
	SelectStmt *sel = (SelectStmt *) raw->stmt;
	Node	   *range = block_range(c, sh);
	List	   *copts = NIL;
	ListCell   *lc;
	ParseState *pstate = make_parsestate(NULL);
	CopyToState cstate;
	RangeEnd	e;
	char		msg[1 + sizeof(RangeEnd)];

	sel->whereClause = sel->whereClause
		? (Node *) makeBoolExpr(AND_EXPR, list_make2(sel->whereClause, range), -1)
		: range;
	/* One header line, at the top of the object. */
	foreach(lc, opts->copy)
		if (c == 0 || strcmp(lfirst_node(DefElem, lc)->defname, "header") != 0)
			copts = lappend(copts, lfirst(lc));
	if (sh->encoding[0])
		copts = lappend(copts, makeDefElem("encoding", (Node *) makeString(pstrdup(sh->encoding)), -1));

	pstate->p_sourcetext = query;
	ws->bytes = 0;
	if (sh->fast_csv &&
		mk_csv_fast_copy(raw, query, copts, worker_compress, ws, &e.rows, &ws->bytes))
		;
	else
	{
		mk_copy_redirect_on(&ws->redirect, worker_accept, ws);
		cstate = BeginCopyTo(pstate, NULL, raw, InvalidOid, NULL, false, NIL, copts);
		e.rows = DoCopyTo(cstate);
		EndCopyTo(cstate);
		mk_copy_redirect_off(&ws->redirect);
	}
	mk_compressor_end_frame(&ws->comp);
	e.bytes = ws->bytes;
	msg[0] = MSG_END;
	memcpy(msg + 1, &e, sizeof(e));
	if (shm_mq_send(ws->mqh, sizeof(msg), msg, false, true) != SHM_MQ_SUCCESS)
		ereport(ERROR, (errcode(ERRCODE_ADMIN_SHUTDOWN),
						errmsg("the S3 export's leader stopped reading")));
}

/*
 * The worker's entry point (CreateParallelContext names it): claim ranges
 * in order until none is left, each COPYed and compressed into one frame.
 */
void
mk_export_parallel_main(dsm_segment *seg, shm_toc *toc)
{
	ExportShared *sh = shm_toc_lookup(toc, KEY_SHARED, false);
	const char *query = shm_toc_lookup(toc, KEY_QUERY, false);
	const char *options = shm_toc_lookup(toc, KEY_OPTIONS, false);
	char	   *queues = shm_toc_lookup(toc, KEY_QUEUES, false);
	shm_mq	   *mq = (shm_mq *) (queues + (Size) ParallelWorkerNumber * QUEUE_SIZE);
	WorkerState ws = {0};
	MkS3Options opts;
	MemoryContext range_cxt,
				old;

	shm_mq_set_sender(mq, MyProc);
	ws.mqh = shm_mq_attach(mq, seg, NULL);
	mk_s3_parse_options(options, NULL, false, &opts);
	/* The leader's rule: the export only reads (parallel mode forbids writes too). */
	XactReadOnly = true;
	mk_compressor_init(&ws.comp, opts.compression, opts.level, 0, worker_send, &ws);
	range_cxt = AllocSetContextCreate(CurrentMemoryContext, "mekatek export range",
									  ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		for (;;)
		{
			uint32		c = pg_atomic_fetch_add_u32(&sh->next_chunk, 1);

			if (c >= sh->nchunks)
				break;
			pg_atomic_write_u32(&sh->owner[c], ParallelWorkerNumber + 1);
			SetLatch(&sh->leader->procLatch);
			old = MemoryContextSwitchTo(range_cxt);
			copy_range(&ws, sh, query, &opts, c);
			MemoryContextSwitchTo(old);
			MemoryContextReset(range_cxt);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		/* The ERROR goes to the leader through the protocol: ours no more. */
		mk_copy_redirect_off(&ws.redirect);
		PG_RE_THROW();
	}
	PG_END_TRY();
	mk_compressor_free(&ws.comp);
}
