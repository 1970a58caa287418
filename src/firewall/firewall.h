/*
 * firewall.h: what the firewall module's C files share: a policy rule
 * loaded into plain structs (for the anomaly pass and first-match usage).
 */
#ifndef FW_COMMON_H
#define FW_COMMON_H

#include "postgres.h"

/* An address field: family 0 means any. */
typedef struct fw_addr
{
	int			family;			/* 0 any, 4, 6 */
	int			bits;
	uint8		addr[16];
} fw_addr;

/* Decision classes: deny, drop and reject all block. */
#define FW_ACCEPT	0
#define FW_BLOCK	1

typedef struct fw_rule
{
	int32		position;
	int			family;			/* the policy's: 4 or 6 */
	char	   *direction;		/* NULL: any chain */
	char	   *proto;			/* NULL: any; lower case */
	int			proto_num;		/* IP protocol number, -1 any, -2 unknown name */
	fw_addr		src,
				dst;
	int32		sport_lo,
				sport_hi;		/* inclusive; 0..65535 when any */
	bool		sport_any;
	int32		dport_lo,
				dport_hi;
	bool		dport_any;
	char	   *in_iface;		/* NULL: any; "eth+" is a prefix */
	char	   *out_iface;
	int			decision;		/* FW_ACCEPT or FW_BLOCK */
	bool		barrier;		/* left out of analysis (see below) */
} fw_rule;

/*
 * The rules of a policy that can be analysed, in position order: those with
 * a terminating action and no match the table cannot represent (flagged),
 * and no empty port range.  *nskipped counts the others; with keep_all they
 * are returned too, marked as barriers (their match set is unknown).
 */
extern bool mk_fw_schema_0_2(void);
extern int	mk_fw_policy_family(const char *policy);
extern int	mk_fw_load_policy(const char *policy, bool keep_all, fw_rule **rules, int *nskipped);

/* Match-set relation of two rules, as anomaly.c classifies them. */
typedef enum fw_rel
{
	FW_REL_EQUAL = 0,
	FW_REL_SUBSET,				/* a's match set inside b's */
	FW_REL_SUPERSET,
	FW_REL_OVERLAP,
	FW_REL_DISJOINT
} fw_rel;

extern fw_rel mk_fw_rule_rel(const fw_rule *a, const fw_rule *b);

/* IP protocol number of a name or decimal ("tcp", "6"); -2 when unknown. */
extern int	mk_fw_proto_num(const char *name, int len);

/* Interface match: rule pattern (NULL any, "eth+" prefix) against a name. */
extern bool mk_fw_iface_match(const char *pattern, const char *name, int len);

extern Datum mk_fw_inet_datum(int family, const uint8_t *addr);

/*
 * What the parser's two consumers share (parse.c builds a fw_event
 * tuple, load.c COPY rows): the prefix -> action map, read once per
 * statement, the year for classic headers, the header time, the chain and
 * the keys of extra.
 */
#include "firewall/logline.h"
#include "datatype/timestamp.h"

typedef struct fw_prefix_map
{
	int			n;
	char	  **prefix;
	int		   *len;
	char	  **action;
} fw_prefix_map;

extern void mk_fw_load_prefix_map(fw_prefix_map *map, MemoryContext mcxt);
extern const char *mk_fw_prefix_action(const fw_prefix_map *map, fwl_span prefix);
extern int	mk_fw_log_year(void);
extern int	mk_fw_classic_year(const fwl_event *ev, int year);
extern bool mk_fw_event_time(const fwl_event *ev, int year, TimestampTz *result);
extern const char *mk_fw_direction(const fwl_event *ev);
extern const char *mk_fw_extra_key(const fwl_event *ev, int idx, int *klen);

/* Threat alerts (firewall/alert.c): their settings, and the load path's counts. */
extern void mk_fw_alert_init(void);
extern void mk_fw_alert_load_begin(void);
extern void mk_fw_alert_load_row(TimestampTz t, int family, const uint8 *src, const uint8 *dst,
								 int32 dpt, bool syn);
extern void mk_fw_alert_load_end(void);
extern void mk_fw_alert_load_abort(void);

/* fw_load_file's file, opened only inside mekatek.fw_log_directory. */
extern FILE *mk_fw_open_log_file(const char *path, char **resolved);
extern void mk_fw_log_directory_init(void);
extern void mk_fw_diff_init(void);
extern void mk_fw_anomalies_init(void);

/* Settings (firewall/settings.c). */
extern int	fw_log_year;
extern bool fw_parse_strict;

#endif							/* FW_COMMON_H */
