/*
 * direct.h: rows written through the executor's row-level entry points
 * (direct.c), and jsonb objects built without a parse.
 */
#ifndef MEKATEK_DEVICES_DIRECT_H
#define MEKATEK_DEVICES_DIRECT_H

#include "devices/devices.h"

#include "access/genam.h"
#include "nodes/execnodes.h"
#include "utils/jsonb.h"
#include "utils/snapshot.h"

#define MK_DIRECT_MAXCOLS 16
#define MK_DIRECT_MAXTABLES 4

/* UPDATE's WHERE for a row found: whether to write it. */
typedef bool (*MkDirectCheck) (TupleTableSlot *found, void *arg);

/*
 * A table written directly.  The caller sets name, cols (NULL-terminated;
 * for an insert every column of the table, for an update the ones it reads
 * or sets), update and, for an update, updated[k] for the columns it sets.
 */
typedef struct MkDirectTable
{
	const char *name;
	const char *const *cols;
	bool		update;
	bool		updated[MK_DIRECT_MAXCOLS];
	Oid			types[MK_DIRECT_MAXCOLS];	/* InvalidOid: any type */
	/* filled by mk_direct_begin */
	Relation	rel;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* the row to write */
	TupleTableSlot *found;		/* update: the row found */
	MkDirectCheck check;		/* update: the check it passed, and its argument */
	void	   *check_arg;
	int			att[MK_DIRECT_MAXCOLS]; /* attribute index (0-based) of cols[k] */
	Relation	index;			/* mk_direct_use_index */
	IndexScanDesc scan;
	struct BulkInsertStateData *bistate;	/* insert: the heap's target page, kept */
	bool		generated_set;	/* the caller set the stored generated columns */
} MkDirectTable;

typedef struct MkDirect
{
	EState	   *estate;
	Snapshot	snapshot;		/* the batch's, as a statement's */
	MemoryContext batch_memory;	/* current at mk_direct_begin: the index scans' */
	MemoryContext row_memory;	/* for the caller's per-row values, reset by it */
	int			ntables;
	MkDirectTable *t[MK_DIRECT_MAXTABLES];
	bool		started;
} MkDirect;

/*
 * Open the tables (schema mekatek) for a batch of row writes; false, with
 * nothing read or written, when the statement must do it (see direct.c).
 */
extern bool mk_direct_begin(MkDirect *d, MkDirectTable **tables, int ntables);
/*
 * Look rows of an update table up through its unique btree on the text
 * column cols[col] (false when index_name is not that index).
 */
extern bool mk_direct_use_index(MkDirect *d, MkDirectTable *t, const char *index_name, int col);

typedef enum MkDirectFound
{
	MK_DIRECT_NONE,				/* no row with the key, or the check refused it */
	MK_DIRECT_FOUND				/* in t->found, to be updated (not locked) */
} MkDirectFound;

/* The row with that key, as UPDATE's scan finds and checks it (direct.c). */
extern MkDirectFound mk_direct_find(MkDirect *d, MkDirectTable *t, Datum key, MkDirectCheck check,
									void *arg);
extern Datum mk_direct_get(MkDirectTable *t, int col, bool *isnull);

/* An empty row (insert) or a copy of the found one (update), then set columns. */
extern void mk_direct_new_row(MkDirectTable *t);
extern void mk_direct_row_from_found(MkDirectTable *t);
extern void mk_direct_set(MkDirectTable *t, int col, Datum v);
extern void mk_direct_set_null(MkDirectTable *t, int col);
/* nextval of the identity of the table's first column (cols[0]). */
extern int64 mk_direct_identity(MkDirectTable *t);
extern void mk_direct_insert(MkDirect *d, MkDirectTable *t);
typedef enum MkDirectUpdated
{
	MK_DIRECT_UPDATED,			/* written */
	MK_DIRECT_SKIPPED,			/* gone, or changed so that the check refuses it */
	MK_DIRECT_AGAIN				/* changed: t->found holds the new version, locked and
								 * checked again; build the row from it and update again */
} MkDirectUpdated;

/* Write t->slot over t->found's version, as UPDATE would (direct.c). */
extern MkDirectUpdated mk_direct_update(MkDirect *d, MkDirectTable *t);
/*
 * A table's planned CHECK expressions (in the relcache's order), with the
 * columns each reads (pull_varattnos' numbering), kept per backend
 * (direct_exprs.c).
 */
typedef struct MkDirectExprs
{
	Oid			relid;
	MemoryContext cxt;
	int			nchecks;
	Expr	  **checks;
	Bitmapset **check_cols;
	bool	   *check_fixed;	/* validated, immutable, no whole-row reference */
	int			natts;
} MkDirectExprs;

extern const MkDirectExprs *mk_direct_exprs(Relation rel);

/*
 * mk_rollup_write's rfid_rollup_pending rows written by rows (rollup.c),
 * into t, a table opened with mk_rfid_rollup_cols.
 */
extern const char *const mk_rfid_rollup_cols[];
extern const Oid mk_rfid_rollup_types[];
extern void mk_rollup_write_direct(MkRollup *r, MkDirect *d, MkDirectTable *t);

/* AFTER row triggers, close everything, CommandCounterIncrement. */
extern void mk_direct_end(MkDirect *d);

#define MK_JB_MAX 16
typedef struct MkJb
{
	int			n;
	JsonbPair	pairs[MK_JB_MAX];
} MkJb;

extern void mk_jb_begin(MkJb *j);
extern void mk_jb_str(MkJb *j, const char *key, const char *value);
extern void mk_jb_int(MkJb *j, const char *key, int64 value);
extern void mk_jb_time(MkJb *j, const char *key, TimestampTz value);
extern Jsonb *mk_jb_end(MkJb *j);

#endif							/* MEKATEK_DEVICES_DIRECT_H */
