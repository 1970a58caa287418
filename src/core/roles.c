/*
 * roles.c: who is acting, and the one admin check every module uses.
 *
 * The rule (see mekatek.h): the acting role is GetOuterUserId(), the role
 * the session acts as, so a SECURITY DEFINER function of ours never passes
 * its owner off as the caller; admin means superuser or the privileges of
 * mekatek_admin.  SQL's mekatek.is_admin() is the same C function.
 */
#include "core/mekatek.h"

#include "miscadmin.h"
#include "utils/acl.h"

char *
mk_acting_role(void)
{
	return GetUserNameFromId(GetOuterUserId(), false);
}

bool
mk_acting_is_admin(void)
{
	Oid			admin = get_role_oid("mekatek_admin", true);
	Oid			who = GetOuterUserId();

	return superuser_arg(who) || (OidIsValid(admin) && has_privs_of_role(who, admin));
}

void
mk_require_admin(const char *what, const char *hint)
{
	if (!mk_acting_is_admin())
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE, hint, "permission denied for %s", what);
}

PG_FUNCTION_INFO_V1(mk_is_admin);

/* mekatek.is_admin() */
Datum
mk_is_admin(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(mk_acting_is_admin());
}
