/*
 * mekatek.h: what every Mekatek C file shares.
 *
 * Error convention.  Every ERROR raised by Mekatek's C code
 *   - carries a specific SQLSTATE (never the default XX000): 22023 for a bad
 *     argument value, 22004 for a NULL where none is allowed, 22003 for a
 *     number out of range, 22P02 for text that does not parse, 23xxx for
 *     integrity rules (23514 check_violation for business rules such as
 *     insufficient stock), 42501 for privilege, 55000 for an object in the
 *     wrong state, 53xxx for resource limits;
 *   - names the argument or object and the bad value in errmsg;
 *   - adds an errhint whenever the fix is not obvious from the message.
 * mk_error() is the one way to raise such an error; the mk_arg_* helpers
 * validate arguments at every C entry point.
 */
#ifndef MEKATEK_H
#define MEKATEK_H

#include "postgres.h"
#include "fmgr.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/array.h"

#define mk_error(sqlstate, hint, ...) \
	ereport(ERROR, \
			(errcode(sqlstate), \
			 errmsg(__VA_ARGS__), \
			 (hint) ? errhint("%s", (const char *) (hint)) : 0))

/* Raise 22004 unless argument argno is non-NULL. */
extern void mk_arg_not_null(FunctionCallInfo fcinfo, int argno, const char *argname);

/* Validate and return an argument, raising the convention's error. */
extern int32 mk_arg_int32_range(FunctionCallInfo fcinfo, int argno, const char *argname,
								int32 min, int32 max);
extern float8 mk_arg_float8_range(FunctionCallInfo fcinfo, int argno, const char *argname,
								  float8 min, float8 max);
extern char *mk_arg_cstring(FunctionCallInfo fcinfo, int argno, const char *argname,
							bool allow_empty);
/* A non-NULL argument of any type, as a Datum. */
extern Datum mk_arg_datum(FunctionCallInfo fcinfo, int argno, const char *argname);

/*
 * Module initialisers: mk_<module>_init() for every module of the
 * Makefile's MODULES list, called in that order from _PG_init (core/init.c).
 * build/include/mk_modules.h is generated from that list.
 */
#define MK_MODULE(m) extern void mk_##m##_init(void);
#include "mk_modules.h"
#undef MK_MODULE

/* mekatek.drop_with_data, for the DROP EXTENSION guard (core/drop_guard.c). */
extern void mk_drop_guard_init(void);

/* mekatek.outbox_keep, for mekatek.outbox_prune (core/outbox_prune.c). */
extern void mk_outbox_prune_init(void);



/*
 * SPI (core/spi.c).  mk_spi_plan: a plan prepared once per backend and kept
 * (SPI_keepplan) in *slot; the plan cache replans it when a table it uses
 * changes.  The others run a statement and raise XX000 naming `what` unless
 * SPI returns `expect`; they return SPI_processed.
 */
#include "executor/spi.h"
extern SPIPlanPtr mk_spi_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes);
extern SPIPlanPtr mk_spi_prepare(const char *sql, int nargs, const Oid *argtypes, const char *what);
extern uint64 mk_spi_execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls,
								  bool read_only, long count, int expect, const char *what);
extern uint64 mk_spi_execute(const char *sql, int nargs, const Oid *argtypes, Datum *values,
							 const char *nulls, bool read_only, long count, int expect,
							 const char *what);

/*
 * Our own SQL is parsed, planned and replanned under MK_SEARCH_PATH, never
 * the caller's (issue 14 §3: a public.= for bigint changed a sale's price).
 * The helpers above pin it around every call; code that calls SPI directly
 * on our SQL brackets the call with mk_spi_pin_begin/mk_spi_pin_end.  User
 * query text (MkQueryReader) keeps the caller's path.  An error unwinds the
 * pin with the (sub)transaction, as a function's SET clause does.
 */
#define MK_SEARCH_PATH "pg_catalog, mekatek, pg_temp"
extern int	mk_spi_pin_begin(void);
extern void mk_spi_pin_end(int level);

/*
 * Roles (core/roles.c).  The acting role is the one the session acts as
 * (its login, or the role SET ROLE chose: GetOuterUserId), never the owner
 * of a SECURITY DEFINER function running on its behalf, so that a function
 * of ours that runs with its owner's rights cannot lend them to a check.
 * It is the role the audit trail records and the one every admin check
 * tests: admin means superuser or the privileges of mekatek_admin.
 */
extern char *mk_acting_role(void);
extern bool mk_acting_is_admin(void);
/* Raise 42501 "permission denied for <what>" unless the acting role is admin. */
extern void mk_require_admin(const char *what, const char *hint);

/* Trigger helpers (core/trigger_rows.c). */
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "utils/tuplestore.h"

/*
 * The attribute number of a trigger relation's column, checked: it must
 * exist with the given type and, when not_null, be declared NOT NULL (so
 * that the trigger may read it without a NULL check).  A trigger function
 * attached to the wrong table gets an ERROR, never a misread datum.
 */
extern AttrNumber mk_trigger_column(TriggerData *td, const char *name, Oid type, bool not_null);

/*
 * The inserted rows of an AFTER INSERT ... FOR EACH STATEMENT trigger with
 * REFERENCING NEW TABLE, read straight from the transition tuplestore with
 * a read pointer of our own (as a NamedTuplestoreScan takes one), so the
 * rows can be read several times.  mk_transition_open raises 39P01 when
 * the trigger is not declared that way and returns false when the
 * statement inserted no row.
 */
typedef struct MkTransition
{
	Tuplestorestate *store;
	int			readptr;
	TupleTableSlot *slot;
} MkTransition;

extern bool mk_transition_open(MkTransition *t, FunctionCallInfo fcinfo, const char *funcname);
extern void mk_transition_rewind(MkTransition *t);
extern bool mk_transition_next(MkTransition *t);
extern void mk_transition_close(MkTransition *t);

/*
 * A trigger function that reads a table's columns by name refuses to run
 * on any other table or event (39P01): fired FOR EACH ROW when row (else
 * FOR EACH STATEMENT), by one of events (MK_ON_INSERT | ...), on
 * mekatek.<table> unless table is NULL.
 */
#define MK_ON_INSERT	(1u << TRIGGER_EVENT_INSERT)
#define MK_ON_DELETE	(1u << TRIGGER_EVENT_DELETE)
#define MK_ON_UPDATE	(1u << TRIGGER_EVENT_UPDATE)
#define MK_ON_TRUNCATE	(1u << TRIGGER_EVENT_TRUNCATE)
extern void mk_trigger_on(FunctionCallInfo fcinfo, const char *funcname, bool row,
						  uint32 events, const char *table);

/* Raise 39P01-style misuse errors when a trigger function is called wrongly. */
extern void mk_trigger_check(FunctionCallInfo fcinfo, const char *funcname,
							 bool after, bool insert_only);

/*
 * A query given as text by the caller (core/query_reader.c), read through
 * a cursor a batch at a time, with the caller's rights and read-only:
 * data-modifying or locking statements are refused, and the transaction is
 * read-only while the query runs.  mk_query_fetch returns the next batch
 * (at most `batch` rows, r->nrows of them) or NULL at the end; the batch is
 * freed by the next fetch or by close.  argname names the argument in
 * errors; hint says what the query must return.
 */
typedef struct MkQueryReader
{
	const char *query;
	const char *argname;
	SPIPlanPtr	plan;
	Portal		portal;
	TupleDesc	desc;			/* the query's result columns */
	SPITupleTable *batch;
	uint64		nrows;
} MkQueryReader;

extern void mk_query_open(MkQueryReader *r, const char *query, const char *argname,
						  const char *hint);
extern SPITupleTable *mk_query_fetch(MkQueryReader *r, long batch);
extern void mk_query_close(MkQueryReader *r);

/*
 * Growing parallel arrays of datums (core/columns.c): the parameters of one
 * set-wise statement, passed as arrays (unnest($1), unnest($2), ...), so
 * that a trigger writes a whole statement's rows with one SPI call.
 */
#define MK_COLUMNS_MAX 8
typedef struct MkColumns
{
	int			ncols;
	int			n;				/* rows added */
	int			cap;
	Datum	   *cols[MK_COLUMNS_MAX];
} MkColumns;

extern void mk_columns_init(MkColumns *c, int ncols, int cap);
/* Room for one more row; returns its index, to fill c->cols[k][index]. */
extern int	mk_columns_add(MkColumns *c);
/* Each column as an array of types[k], into args[k]. */
extern void mk_columns_arrays(MkColumns *c, const Oid *types, Datum *args);

/*
 * The elements of an array known to hold no NULL (check ARR_HASNULL first):
 * ARR_DATA_PTR itself mixes int32 and size_t in a ternary, which the CI's
 * -Wextra reports wherever gcc cannot see the sign.
 */
static inline char *
mk_array_data(ArrayType *a)
{
	Assert(!ARR_HASNULL(a));
	return (char *) a + ARR_OVERHEAD_NONULLS(ARR_NDIM(a));
}

/*
 * A user's value quoted in an error message, at most MK_QUOTE_MAX bytes of
 * it (cut on a character boundary, "..." marking the cut), so that a
 * megabyte argument never floods the client or the server log.
 */
#define MK_QUOTE_MAX 64
extern char *mk_quote_short(const char *value);

/* jsonb_push.c: members of a jsonb object pushed from C values */
#include "utils/jsonb.h"
extern void mk_jsonb_key(JsonbParseState **st, const char *key);
extern void mk_jsonb_str(JsonbParseState **st, const char *key, const char *val);
extern void mk_jsonb_strn(JsonbParseState **st, const char *key, const char *val, int len);
extern void mk_jsonb_numeric(JsonbParseState **st, const char *key, Datum numeric);
extern void mk_jsonb_int(JsonbParseState **st, const char *key, int64 n);
extern void mk_jsonb_bool(JsonbParseState **st, const char *key, bool b);

/* number.c: a value of any SQL numeric type as double */
extern bool mk_is_number_type(Oid type);
extern double mk_number_to_double(Datum v, Oid type);

/*
 * Replace each of the secrets (values shorter than 8 bytes are ignored) in
 * every text field of a log line, and hide the statement when it holds one
 * (core/redact.c).  For an emit_log_hook: never raises.  Returns whether
 * anything was redacted.
 */
extern bool mk_redact_error(ErrorData *edata, const char *const *secrets, int nsecrets);

/*
 * NOTIFY payloads (core/notify.c): small JSON objects built member by
 * member.  String members are clipped (at a character boundary) so that a
 * payload never exceeds NOTIFY's 8000 byte limit, whatever a device sends;
 * the row in the table keeps the full value, and a clipped member is marked
 * by "truncated": true.
 */
typedef struct MkPayload
{
	StringInfoData buf;
	bool		truncated;
} MkPayload;

extern void mk_payload_begin(MkPayload *p);
extern void mk_payload_str(MkPayload *p, const char *key, const char *value);
extern void mk_payload_int(MkPayload *p, const char *key, int64 value);
extern void mk_payload_time(MkPayload *p, const char *key, TimestampTz value);
/* Close the object and queue NOTIFY channel (sent at commit, if any). */
extern void mk_payload_notify(MkPayload *p, const char *channel);
/*
 * mk_payload_notify, and the payload as a mekatek.outbox row on
 * outbox_channel with NOTIFY mekatek_outbox (inside an SPI connection).
 */
extern void mk_payload_outbox(MkPayload *p, const char *channel, const char *outbox_channel);

/*
 * The outbox fence of a channel: the advisory lock (MK_OUTBOX_FENCE,
 * hashtext(channel)), "MKOB".  mekatek.outbox_claim takes it exclusively
 * before it claims.  A producer may leave out NOTIFY mekatek_outbox when
 * another message of the channel waits unclaimed, if it holds the fence
 * shared from before that check until it commits: a deliverer that claims
 * until a claim returns nothing, then waits for NOTIFY, misses nothing.
 */
#define MK_OUTBOX_FENCE 0x4D4B4F42

/*
 * COPY FROM a C data source (core/copy_from.c): rows in COPY's text format
 * come from fn (at least minread and at most maxread bytes into buf, 0 at
 * the end) into relid's columns attnames, with COPY's options, after the
 * checks DoCopy makes.  Returns the rows loaded.  One load at a time per
 * backend.
 */
typedef int (*MkCopySourceFn) (void *arg, void *buf, int minread, int maxread);
typedef struct CopyFromStateData *MkCopyFromState;
typedef struct MkCopyFromOpts
{
	const char *what;			/* the SQL function, for errors: "mekatek.fw_load" */
	const char *rls_hint;		/* what to do when the table has row security */
	MkCopyFromState *cstate;	/* when set: the COPY's state while it runs */
	void		(*ready) (void *arg);	/* when set: called once the checks passed */
} MkCopyFromOpts;

extern uint64 mk_copy_from(Oid relid, List *attnames, List *options,
						   MkCopySourceFn fn, void *arg, const MkCopyFromOpts *o);

#endif							/* MEKATEK_H */
