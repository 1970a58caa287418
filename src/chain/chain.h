/*
 * chain.h: what the chain module's C files share.
 */
#ifndef MEKATEK_CHAIN_H
#define MEKATEK_CHAIN_H

#include "core/mekatek.h"

/*
 * A write in the wrong place of the chain (README "Chain of branch
 * servers"): in class 25 beside read_only_sql_transaction (25006), which
 * is what a client gets writing to a read-only standby, because the
 * remedy is the same: write on the right server.
 */
#define CHAIN_ERRCODE_WRONG_PLACE	MAKE_SQLSTATE('2','5','M','0','1')

typedef enum ChainRole
{
	CHAIN_STANDALONE = 0,
	CHAIN_HEADQUARTERS,
	CHAIN_BRANCH
} ChainRole;

/*
 * This server's place (mekatek.chain_node), read once per transaction.
 * At headquarters, members are the branches with a server of their own.
 */
typedef struct ChainNode
{
	ChainRole	role;
	int32		node_id;
	int32		branch_id;		/* CHAIN_BRANCH: its branch */
	int			nmembers;		/* CHAIN_HEADQUARTERS */
	int32	   *members;
} ChainNode;

extern const ChainNode *chain_node(void);
extern bool chain_is_member(const ChainNode *n, int32 branch_id);

#endif							/* MEKATEK_CHAIN_H */
