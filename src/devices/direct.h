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
	TupleTableSlot *found;		/* update: the locked row */
	int			att[MK_DIRECT_MAXCOLS]; /* attribute index (0-based) of cols[k] */
	Relation	index;			/* mk_direct_use_index */
	IndexScanDesc scan;
} MkDirectTable;

typedef struct MkDirect
{
	EState	   *estate;
	EPQState	epq;
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

/*
 * UPDATE's WHERE for a row found: whether to write it, and if so in which
 * lock mode (as heap_update would take it for that change).
 */
typedef bool (*MkDirectCheck) (TupleTableSlot *found, void *arg, LockTupleMode *mode);

typedef enum MkDirectFound
{
	MK_DIRECT_NONE,				/* no row with the key */
	MK_DIRECT_REFUSED,			/* the check refused it (or it went away) */
	MK_DIRECT_LOCKED			/* in t->found, locked, to be updated */
} MkDirectFound;

/* The row with that key, checked and locked as UPDATE would (direct.c). */
extern MkDirectFound mk_direct_lock(MkDirect *d, MkDirectTable *t, Datum key, MkDirectCheck check,
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
extern void mk_direct_update(MkDirect *d, MkDirectTable *t);
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
