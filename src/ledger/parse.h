/*
 * parse.h: the chat command language of the ledger, in plain C.
 *
 * No server dependency, so that the fuzz harness (test/ledger_fuzz) builds
 * it outside PostgreSQL with clang -fsanitize=fuzzer,address.  It never
 * allocates: spans point into the caller's buffer, which need not be
 * NUL-terminated.  The server side (ingest.c) acts on the result.
 */
#ifndef LEDGER_PARSE_H
#define LEDGER_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* The paper's command list, in its (alphabetical) order. */
#define LK_COMMANDS(X) \
	X(AUTOCHARGE, "autocharge") \
	X(BROADCAST, "broadcast") \
	X(CANCEL, "cancel") \
	X(COMMANDS, "commands") \
	X(DONE, "done") \
	X(GROUPADD, "groupadd") \
	X(GROUPDELETE, "groupdelete") \
	X(GROUPEDIT, "groupedit") \
	X(GROUPLIST, "grouplist") \
	X(INFO, "info") \
	X(MATH, "math") \
	X(PAYMENT, "payment") \
	X(PERMISSIONLIST, "permissionlist") \
	X(PING, "ping") \
	X(REPORT, "report") \
	X(ROLEADD, "roleadd") \
	X(ROLEDELETE, "roledelete") \
	X(ROLEEDIT, "roleedit") \
	X(ROLELIST, "rolelist") \
	X(SETTLE, "settle") \
	X(SETTLEALL, "settleall") \
	X(TAGALL, "tagall") \
	X(TOTAL, "total") \
	X(TOTALALL, "totalall") \
	X(USERADD, "useradd") \
	X(USEREDIT, "useredit") \
	X(USERLIST, "userlist") \
	X(USERROLEEDIT, "userroleedit")

typedef enum lk_cmdid
{
	LK_NONE = 0,
#define X(id, name) LK_##id,
	LK_COMMANDS(X)
#undef X
	LK_NCMD
} lk_cmdid;

extern const char *const lk_cmd_name[LK_NCMD];

typedef struct lk_span
{
	const char *p;
	int			len;
} lk_span;

/* Whole rupiah below 10^12: qty * price then stays far inside int64. */
#define LK_AMOUNT_MAX	INT64_C(999999999999)
#define LK_QTY_MAX		100000
#define LK_MAX_ARGS		12
#define LK_ERR_LEN		160

typedef enum lk_status
{
	LK_CHATTER = 0,				/* not a command: record as ignored */
	LK_OK = 1,
	LK_REJECT = -1				/* a command word, but the rest is wrong */
} lk_status;

typedef struct lk_cmd
{
	lk_cmdid	cmd;
	int32_t		qty;			/* done */
	int64_t		amount;			/* done (price), payment, math (result) */
	lk_span		rest;			/* note, broadcast text, name, description */
	int			nargs;			/* words before rest, command-specific */
	lk_span		args[LK_MAX_ARGS];
	int32_t		date_from;		/* report: yyyymmdd, 0 when absent */
	int32_t		date_to;
	char		error[LK_ERR_LEN];	/* LK_REJECT: what was wrong */
} lk_cmd;

extern lk_status lk_parse(const char *s, size_t len, lk_cmd *out);

/*
 * An amount at s: 50000, 50.000, 50,000, Rp 50.000, Rp50.000,-, 50rb,
 * 50 ribu, 50k, 1,5jt, 2 juta.  Returns the bytes used (the amount ends at
 * a space or the end), or 0 with a reason in err.
 */
extern size_t lk_parse_amount(const char *s, size_t len, int64_t *v, char *err, size_t errlen);

/* The canonical form "Rp1.500.000" (negative: "-Rp50.000"); buf >= 24. */
extern size_t lk_format_amount(int64_t v, char *buf);

/*
 * A phone number as WhatsApp names it: digits with the country code
 * ("6281234567890").  Accepts "+62 812-3456-7890", "0812...", and
 * "6281...@c.us".  Returns its length (8 to 15) in out[16], or -1.
 */
extern int	lk_phone(const char *s, size_t len, char *out);

/* Integer arithmetic + - * / and parentheses, exact; 0 with err on failure. */
extern int	lk_math(const char *s, size_t len, int64_t *v, char *err, size_t errlen);

#endif							/* LEDGER_PARSE_H */
