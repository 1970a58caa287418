/*
 * logline.h: the netfilter LOG-line parser, in plain C.
 *
 * It has no server dependency so that the fuzz harness (test/firewall_fuzz)
 * can build it outside PostgreSQL with clang -fsanitize=fuzzer,address.  It
 * never allocates: the result points into the caller's buffer, which need
 * not be NUL-terminated and may contain any byte.  The server wrapper
 * (parse.c) turns the result into mekatek.fw_event.
 */
#ifndef FW_LOGLINE_H
#define FW_LOGLINE_H

#include <stddef.h>
#include <stdint.h>

/* A slice of the input line. */
typedef struct fwl_span
{
	const char *p;
	int			len;
} fwl_span;

/* Keys of other fields, kept for mekatek.fw_event.extra. */
typedef struct fwl_kv
{
	fwl_span	key;
	fwl_span	val;
	uint8_t		has_val;		/* 0: a bare flag such as DF */
	uint8_t		inner;			/* 1: inside the [...] embedded header */
	uint8_t		qualify;		/* 1: a repeated key after PROTO= (UDP's LEN) */
} fwl_kv;

/*
 * Bounded so that a line can never make the parser use more memory: the
 * kernel prints at most about 45 fields (with options and UID/GID/MARK).
 */
#define FWL_MAX_KV		96
#define FWL_MAX_FLAGS	8

typedef enum fwl_header
{
	FWL_HDR_NONE = 0,
	FWL_HDR_CLASSIC,			/* Nov 23 07:08:09 host kernel: */
	FWL_HDR_ISO					/* 2024-03-05T10:11:12.123456+07:00 host kernel: */
} fwl_header;

/* Numeric fields present in the line. */
#define FWL_HAS_SPT		0x01
#define FWL_HAS_DPT		0x02
#define FWL_HAS_LEN		0x04
#define FWL_HAS_TTL		0x08
#define FWL_HAS_ID		0x10
#define FWL_HAS_TYPE	0x20
#define FWL_HAS_CODE	0x40

typedef struct fwl_event
{
	fwl_header	header;
	/* header time; year is 0 for the classic header (no year printed) */
	int			year,
				mon,
				day,
				hour,
				min,
				sec,
				usec;
	int			has_tz;			/* ISO header: offset present */
	int			tz_sec;			/* seconds east of UTC */
	fwl_span	host;
	fwl_span	prefix;			/* trailing blanks removed; may be empty */
	fwl_span	in_iface,
				out_iface;
	int			family;			/* 4 or 6 */
	uint8_t		src[16],
				dst[16];
	fwl_span	proto;
	fwl_span	inner_proto;	/* PROTO= inside [...] */
	unsigned	has;			/* FWL_HAS_* */
	int32_t		spt,
				dpt,
				len,
				ttl,
				id,
				icmp_type,
				icmp_code;
	int			nflags;
	fwl_span	tcp_flags[FWL_MAX_FLAGS];
	int			nkv;
	fwl_kv		kv[FWL_MAX_KV];
} fwl_event;

typedef enum fwl_status
{
	FWL_OK = 0,
	FWL_ERR_NO_IN_OUT,			/* no "IN=... OUT=" pair: not a LOG line */
	FWL_ERR_HEADER,				/* a syslog header with an impossible date */
	FWL_ERR_FIELD,				/* a token that is not KEY=VALUE, FLAG or [...] */
	FWL_ERR_NUMBER,				/* a numeric field that is not a number */
	FWL_ERR_ADDRESS,			/* SRC= or DST= is not an IP address */
	FWL_ERR_MISSING,			/* SRC=, DST= or PROTO= missing */
	FWL_ERR_BRACKET,			/* an unterminated or nested [...] */
	FWL_ERR_TOO_MANY,			/* more fields than FWL_MAX_KV */
	FWL_ERR_NUL,				/* a NUL byte inside the line */
	FWL_ERR_TOO_LONG,			/* a line longer than FWL_MAX_LINE */
	FWL_ERR_PORT				/* SPT= or DPT= above 65535 */
} fwl_status;

/*
 * Parse one line (a trailing \r or \n is ignored).  On error, *err_off is
 * the byte offset where parsing stopped.
 */
extern fwl_status fwl_parse(const char *buf, size_t len, fwl_event *ev, size_t *err_off);

/* A short English reason for a status. */
extern const char *fwl_status_text(fwl_status st);

/* Days in a month, leap years included (for the caller's year). */
extern int	fwl_days_in_month(int year, int mon);

#endif							/* FW_LOGLINE_H */
