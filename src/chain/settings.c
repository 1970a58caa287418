/*
 * settings.c: the chain module's initialiser.  The module has no setting
 * of its own: its state is the row of mekatek.chain_node (so that it is
 * dumped and restored with the data, and a restored branch server is still
 * that branch's).
 */
#include "chain/chain.h"

void
mk_chain_init(void)
{
}
