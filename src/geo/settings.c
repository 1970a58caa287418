/*
 * settings.c: the geo module's initialiser.  geo has no settings of its
 * own yet; its init exists so that every module of MODULES has one.
 */
#include "core/mekatek.h"

void
mk_geo_init(void)
{
}
