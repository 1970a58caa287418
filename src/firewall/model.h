/*
 * model.h: a policy as iptables evaluates it (src/firewall/model.c).
 *
 * Every match field is a set of values: addresses and ports as sorted lists
 * of intervals (so negation, iprange and multiport are exact), protocol and
 * TCP flag combinations as 256-bit sets, conntrack state as a 5-bit set.
 * A rule is the product of its fields' sets.  Products intersect and
 * compare exactly, which is what inlining user chains and classifying
 * anomalies need.  A match the model does not know makes the rule
 * conservative: it may match any packet of its product, but is never
 * assumed to match all of them.
 */
#ifndef FW_MODEL_H
#define FW_MODEL_H

#include "postgres.h"
#include "firewall/firewall.h"

/*
 * 128-bit addresses.  palloc aligns to 8 bytes, and the compiler would
 * otherwise use 16-byte aligned moves on these: the typedef lowers the
 * alignment it may assume.
 */
typedef unsigned __int128 fw_u128 __attribute__((aligned(8)));

typedef struct fw_ivl
{
	fw_u128		lo,
				hi;				/* inclusive */
} fw_ivl;

/* Sorted, disjoint, non-adjacent intervals; n == 0 is the empty set. */
typedef struct fw_iset
{
	int			n;
	fw_ivl	   *v;
} fw_iset;

typedef struct fw_bits
{
	uint64		w[4];
} fw_bits;

/* conntrack states, as bits of fw_mrule.state */
#define FW_ST_NEW			0x01
#define FW_ST_ESTABLISHED	0x02
#define FW_ST_RELATED		0x04
#define FW_ST_INVALID		0x08
#define FW_ST_UNTRACKED		0x10
#define FW_ST_ALL			0x1F

/* what a rule does with the packets it matches */
typedef enum fw_kind
{
	FW_K_ACCEPT,
	FW_K_BLOCK,					/* DROP, REJECT (and deny) */
	FW_K_RETURN,
	FW_K_JUMP,
	FW_K_GOTO,
	FW_K_NONE,					/* non-terminating: LOG, MARK, no -j at all */
	FW_K_UNKNOWN				/* a terminating target of unknown verdict */
} fw_kind;

typedef struct fw_mrule
{
	int32		position;
	const char *chain;			/* its own chain; NULL: any (a hand-made rule) */
	const char *direction;		/* the built-in chain it is evaluated in (flattened) */
	const char *target;			/* jump/goto target or the target's name */
	const char *action;			/* accept, drop, reject, deny or NULL */
	fw_kind		kind;
	bool		synthetic;		/* a -g or RETURN meeting the chain policy */
	bool		conservative;
	const char *unknown;		/* the first option the model does not know */
	fw_bits		proto;
	fw_iset		src,
				dst,
				sport,
				dport,
				icmp;			/* type * 256 + code */
	fw_bits		tflags;			/* the values of FIN|SYN|RST|PSH|ACK|URG|ECE|CWR */
	uint8		state;
	const char *in_iface,
			   *out_iface;		/* NULL any; "eth+" a prefix */
} fw_mrule;

typedef struct fw_policy_model
{
	const char *name;
	int			family;
	int			n;
	fw_mrule   *r;				/* every rule, in position order */
	int			nchains;
	const char **chain_name;	/* chains with a policy (built-in) */
	const char **chain_policy;	/* "accept" or "drop" */
} fw_policy_model;

extern void mk_fw_model_load(fw_policy_model *m, const char *policy);

/*
 * The flattened evaluation order: every rule of the built-in chains (and
 * the rules with no chain) in position order, each user chain inlined at
 * its jumps with the jump's match intersected in; RETURN and a user
 * chain's goto make the rest of their chain conservative.  Only rules that
 * decide (kinds ACCEPT, BLOCK, UNKNOWN) are kept; a goto from a built-in
 * chain (and a RETURN in one) adds a synthetic rule after the target's
 * rules: the goto's match with the chain policy's decision, named by the
 * goto's position.
 */
extern int	mk_fw_model_flatten(const fw_policy_model *m, fw_mrule **out);
/* Refuse a walk of the user chains deeper than iptables allows (a jump loop). */
extern void mk_fw_chain_depth_check(const fw_policy_model *m, const char *chain, int depth);

extern fw_rel mk_fw_mrule_rel(const fw_mrule *a, const fw_mrule *b);

/* A packet, as fw_trace takes it; -1 for a field it does not have. */
typedef struct fw_packet
{
	int			proto;
	fw_u128		src,
				dst;
	int			sport,
				dport,
				icmp,			/* type * 256 + code */
				tflags,
				state;			/* one FW_ST_ bit */
	const char *in_iface,
			   *out_iface;
} fw_packet;

/* 0: the rule does not match, 1: it does, 2: it may (conservative) */
extern int	mk_fw_mrule_match(const fw_mrule *r, const fw_packet *p);
extern bool mk_fw_addr_number(int family, Datum d, fw_u128 *out);
extern int	mk_fw_state_bits(const char *v);
extern int	mk_fw_tcp_flag_bits(const char *v);

/* Set algebra on interval sets (diff.c) */
extern fw_iset mk_fw_iset_and(fw_iset a, fw_iset b);
extern fw_iset mk_fw_iset_minus(fw_iset a, fw_iset b, fw_u128 max);

/* Interface patterns, as anomaly.c compares them (NULL any, "eth+"). */
extern fw_rel mk_fw_rel_iface(const char *a, const char *b);

#endif							/* FW_MODEL_H */
