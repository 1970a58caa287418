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



/*
 * SPI plans prepared once per backend and kept (SPI_keepplan); the plan
 * cache replans them when a table they use changes.
 */
#include "executor/spi.h"
extern SPIPlanPtr mk_spi_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes);

/* The role acting outside any SECURITY DEFINER function (for audit). */
extern char *mk_acting_role(void);

/* True when the acting role has mekatek_admin's rights or is superuser. */
extern bool mk_acting_is_admin(void);

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

/* Raise 39P01-style misuse errors when a trigger function is called wrongly. */
extern void mk_trigger_check(FunctionCallInfo fcinfo, const char *funcname,
							 bool after, bool insert_only);

#endif							/* MEKATEK_H */
