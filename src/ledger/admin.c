/*
 * admin.c: users, roles, permissions and groups, administered through the
 * same chat_ingest as the sales (so the bot needs no other access), each
 * change audited in ledger_audit; and the small commands (info, commands,
 * ping, math, broadcast, tagall, autocharge).
 */
#include "ledger/ledger.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

/* Run a statement whose parameters are all text (NULL pointer: SQL NULL). */
static uint64
q(SPIPlanPtr *slot, const char *sql, int n, const char **vals)
{
	Oid			types[16];
	Datum		v[16];
	bool		nulls[16];

	for (int i = 0; i < n; i++)
	{
		types[i] = TEXTOID;
		nulls[i] = vals[i] == NULL;
		v[i] = vals[i] ? CStringGetTextDatum(vals[i]) : (Datum) 0;
	}
	return lk_run(slot, sql, n, types, v, nulls, 0);
}

static char *
span_str(lk_span s)
{
	return pnstrdup(s.p, s.len);
}

static char *
phone_arg(lk_span s)
{
	char		out[16];

	if (lk_phone(s.p, s.len, out) < 0)
		return NULL;			/* the parser has checked it */
	return pstrdup(out);
}

static char *
role_arg(lk_span s)
{
	char	   *r = span_str(s);

	for (char *c = r; *c; c++)
		*c = pg_ascii_tolower((unsigned char) *c);
	return r;
}

/* The change, who made it and from which message. */
static void
audit(lk_msg *m, const char *a1, const char *a2, const char *a3)
{
	static SPIPlanPtr plan;
	const char *v[8];

	v[0] = m->sender;
	v[1] = lk_cmd_name[m->cmd.cmd];
	v[2] = text_to_cstring(m->source);
	v[3] = text_to_cstring(m->message_id);
	v[4] = text_to_cstring(m->group_id);
	v[5] = a1;
	v[6] = a2;
	v[7] = a3;
	q(&plan,
	  "INSERT INTO mekatek.ledger_audit (actor, command, source, message_id, detail)"
	  " VALUES ($1, $2, $3, $4, jsonb_strip_nulls(jsonb_build_object("
	  "'group_id', $5, 'arg1', $6, 'arg2', $7, 'arg3', $8)))", 8, v);
}

static void
answered(lk_msg *m)
{
	m->outcome = "answered";
}

static void
changed(lk_msg *m, const char *a1, const char *a2, const char *a3)
{
	m->outcome = "recorded";
	audit(m, a1, a2, a3);
}

void
lk_do_admin(lk_msg *m)
{
	lk_cmd	   *c = &m->cmd;
	char	   *group = text_to_cstring(m->group_id);
	char	   *rest = c->rest.len > 0 ? span_str(c->rest) : NULL;

	switch (c->cmd)
	{
		case LK_GROUPADD:
			{
				static SPIPlanPtr plan;
				const char *v[3] = {group, rest, phone_arg(c->args[0])};

				/* a deleted group comes back with its books */
				q(&plan,
				  "INSERT INTO mekatek.ledger_group AS g (group_id, name, buyer_phone)"
				  " VALUES ($1, coalesce($2, $1), $3)"
				  " ON CONFLICT (group_id) DO UPDATE SET deleted_at = NULL, buyer_phone = EXCLUDED.buyer_phone,"
				  "     name = coalesce($2, g.name)"
				  " RETURNING name", 3, v);
				appendStringInfo(m->reply, "Group %s registered; buyer %s.", lk_col_text(0, 1), v[2]);
				changed(m, v[2], rest, NULL);
				break;
			}
		case LK_GROUPEDIT:
			{
				static SPIPlanPtr plan;
				const char *v[2] = {group, phone_arg(c->args[0])};

				q(&plan, "UPDATE mekatek.ledger_group SET buyer_phone = $2 WHERE group_id = $1", 2, v);
				appendStringInfo(m->reply, "Buyer of %s is now %s (was %s).", m->group_name, v[1], m->buyer_phone);
				changed(m, v[1], m->buyer_phone, NULL);
				break;
			}
		case LK_GROUPDELETE:
			{
				static SPIPlanPtr plan;
				const char *v[1] = {group};

				q(&plan, "UPDATE mekatek.ledger_group SET deleted_at = now() WHERE group_id = $1", 1, v);
				appendStringInfo(m->reply, "Group %s unregistered; its books are kept (unpaid ", m->group_name);
				lk_amount_append(m->reply, m->unpaid);
				appendStringInfoString(m->reply, ").");
				changed(m, NULL, NULL, NULL);
				break;
			}
		case LK_GROUPLIST:
			{
				static SPIPlanPtr plan;
				uint64		n = q(&plan, "SELECT name, buyer_phone, unpaid FROM mekatek.ledger_group"
								  " WHERE deleted_at IS NULL ORDER BY name, group_id", 0, NULL);

				appendStringInfo(m->reply, "%d groups:", (int) n);
				for (uint64 i = 0; i < n; i++)
				{
					appendStringInfo(m->reply, "\n%s, buyer %s, unpaid ", lk_col_text(i, 1), lk_col_text(i, 2));
					lk_amount_append(m->reply, lk_col_int64(i, 3, NULL));
				}
				answered(m);
				break;
			}
		case LK_USERADD:
			{
				static SPIPlanPtr role,
							ins;
				const char *v[3] = {phone_arg(c->args[0]), role_arg(c->args[1]), rest};

				if (q(&role, "SELECT FROM mekatek.ledger_role WHERE role_name = $2", 2, v) == 0)
				{
					appendStringInfo(m->reply, "There is no role %s (see rolelist).", v[1]);
					answered(m);
					break;
				}
				if (q(&ins,
					  "WITH u AS (INSERT INTO mekatek.ledger_user (phone, name) VALUES ($1, coalesce($3, ''))"
					  "           ON CONFLICT (phone) DO NOTHING RETURNING user_id)"
					  " INSERT INTO mekatek.ledger_user_role (user_id, role_name) SELECT user_id, $2 FROM u",
					  3, v) == 0)
				{
					appendStringInfo(m->reply, "%s is already a user (see userlist).", v[0]);
					answered(m);
					break;
				}
				appendStringInfo(m->reply, "User %s added as %s.", v[0], v[1]);
				changed(m, v[0], v[1], rest);
				break;
			}
		case LK_USEREDIT:
			{
				static SPIPlanPtr plan;
				const char *v[3] = {phone_arg(c->args[0]), phone_arg(c->args[1]), rest};

				if (q(&plan,
					  "UPDATE mekatek.ledger_user SET phone = $2, name = coalesce($3, name) WHERE phone = $1"
					  " AND ($1 = $2 OR NOT EXISTS (SELECT FROM mekatek.ledger_user WHERE phone = $2))",
					  3, v) == 0)
				{
					appendStringInfo(m->reply, "No change: %s is not a user, or %s already is.", v[0], v[1]);
					answered(m);
					break;
				}
				appendStringInfo(m->reply, "User %s is now %s.", v[0], v[1]);
				changed(m, v[0], v[1], rest);
				break;
			}
		case LK_USERROLEEDIT:
			{
				static SPIPlanPtr check,
							del,
							ins;
				const char *v[2] = {phone_arg(c->args[0]), role_arg(c->args[1])};

				q(&check, "SELECT (SELECT user_id FROM mekatek.ledger_user WHERE phone = $1),"
				  " EXISTS (SELECT FROM mekatek.ledger_role WHERE role_name = $2)", 2, v);
				if (lk_col_text(0, 1) == NULL || !lk_col_bool(0, 2))
				{
					appendStringInfo(m->reply, "No change: %s.", lk_col_text(0, 1) == NULL
									 ? "no such user (see userlist)" : "no such role (see rolelist)");
					answered(m);
					break;
				}
				q(&del, "DELETE FROM mekatek.ledger_user_role WHERE user_id ="
				  " (SELECT user_id FROM mekatek.ledger_user WHERE phone = $1)", 1, v);
				q(&ins, "INSERT INTO mekatek.ledger_user_role (user_id, role_name)"
				  " SELECT user_id, $2 FROM mekatek.ledger_user WHERE phone = $1", 2, v);
				appendStringInfo(m->reply, "User %s now has role %s.", v[0], v[1]);
				changed(m, v[0], v[1], NULL);
				break;
			}
		case LK_USERLIST:
			{
				static SPIPlanPtr plan;
				uint64		n = q(&plan,
								  "SELECT u.phone, u.name, coalesce(string_agg(ur.role_name, ', ' ORDER BY ur.role_name), '-')"
								  "  FROM mekatek.ledger_user u LEFT JOIN mekatek.ledger_user_role ur USING (user_id)"
								  " GROUP BY u.user_id ORDER BY u.name, u.phone", 0, NULL);

				appendStringInfo(m->reply, "%d users:", (int) n);
				for (uint64 i = 0; i < n; i++)
					appendStringInfo(m->reply, "\n%s %s (%s)", lk_col_text(i, 1), lk_col_text(i, 2), lk_col_text(i, 3));
				answered(m);
				break;
			}
		case LK_ROLEADD:
			{
				static SPIPlanPtr plan;
				const char *v[2] = {role_arg(c->args[0]), rest};

				if (q(&plan, "INSERT INTO mekatek.ledger_role (role_name, description) VALUES ($1, coalesce($2, ''))"
					  " ON CONFLICT DO NOTHING", 2, v) == 0)
				{
					appendStringInfo(m->reply, "Role %s already exists.", v[0]);
					answered(m);
					break;
				}
				appendStringInfo(m->reply, "Role %s added; give it commands with roleedit %s +command.", v[0], v[0]);
				changed(m, v[0], rest, NULL);
				break;
			}
		case LK_ROLEDELETE:
			{
				static SPIPlanPtr plan;
				const char *v[1] = {role_arg(c->args[0])};

				if (q(&plan, "DELETE FROM mekatek.ledger_role r WHERE role_name = $1"
					  " AND NOT EXISTS (SELECT FROM mekatek.ledger_user_role ur WHERE ur.role_name = r.role_name)",
					  1, v) == 0)
				{
					appendStringInfo(m->reply, "Role %s was not deleted: it does not exist or users still have it.", v[0]);
					answered(m);
					break;
				}
				appendStringInfo(m->reply, "Role %s deleted.", v[0]);
				changed(m, v[0], NULL, NULL);
				break;
			}
		case LK_ROLEEDIT:
			{
				static SPIPlanPtr exists,
							grant,
							revoke;
				const char *v[3] = {role_arg(c->args[0]), NULL, NULL};
				StringInfoData changes;

				if (q(&exists, "SELECT FROM mekatek.ledger_role WHERE role_name = $1", 1, v) == 0)
				{
					appendStringInfo(m->reply, "There is no role %s (see rolelist).", v[0]);
					answered(m);
					break;
				}
				initStringInfo(&changes);
				for (int i = 1; i < c->nargs; i++)
				{
					lk_span		a = c->args[i];
					bool		own = a.len > 4 && memcmp(a.p + a.len - 4, ":own", 4) == 0;
					lk_span		cmd = {a.p + 1, a.len - 1 - (own ? 4 : 0)};

					v[1] = role_arg(cmd);
					v[2] = own ? "true" : "false";
					if (a.p[0] == '+')
						q(&grant, "INSERT INTO mekatek.ledger_role_permission (role_name, command, own_group_only)"
						  " VALUES ($1, $2, $3::boolean) ON CONFLICT (role_name, command)"
						  " DO UPDATE SET own_group_only = EXCLUDED.own_group_only", 3, v);
					else
						q(&revoke, "DELETE FROM mekatek.ledger_role_permission WHERE role_name = $1 AND command = $2",
						  2, v);
					appendStringInfo(&changes, "%s%.*s", i > 1 ? " " : "", a.len, a.p);
				}
				appendStringInfo(m->reply, "Role %s changed: %s.", v[0], changes.data);
				changed(m, v[0], changes.data, NULL);
				break;
			}
		case LK_ROLELIST:
			{
				static SPIPlanPtr plan;
				uint64		n = q(&plan,
								  "SELECT r.role_name, coalesce(string_agg(p.command || CASE WHEN p.own_group_only"
								  " THEN ':own' ELSE '' END, ' ' ORDER BY p.command), '-')"
								  "  FROM mekatek.ledger_role r LEFT JOIN mekatek.ledger_role_permission p USING (role_name)"
								  " GROUP BY r.role_name ORDER BY r.role_name", 0, NULL);

				appendStringInfo(m->reply, "%d roles:", (int) n);
				for (uint64 i = 0; i < n; i++)
					appendStringInfo(m->reply, "\n%s: %s", lk_col_text(i, 1), lk_col_text(i, 2));
				answered(m);
				break;
			}
		case LK_PERMISSIONLIST:
		case LK_COMMANDS:
			{
				static SPIPlanPtr all,
							mine;
				const char *v[1] = {m->sender};
				uint64		n = c->cmd == LK_PERMISSIONLIST
					? q(&all, "SELECT command, description FROM mekatek.ledger_command ORDER BY command", 0, NULL)
					: q(&mine, "SELECT c.command, c.description FROM mekatek.ledger_command c"
						" WHERE EXISTS (SELECT FROM mekatek.ledger_user u"
						"                 JOIN mekatek.ledger_user_role ur USING (user_id)"
						"                 JOIN mekatek.ledger_role_permission p USING (role_name)"
						"                WHERE u.phone = $1 AND p.command = c.command)"
						" ORDER BY c.command", 1, v);

				appendStringInfoString(m->reply, c->cmd == LK_PERMISSIONLIST ? "Permissions:" : "Your commands:");
				for (uint64 i = 0; i < n; i++)
					appendStringInfo(m->reply, "\n%s - %s", lk_col_text(i, 1), lk_col_text(i, 2));
				answered(m);
				break;
			}
		case LK_INFO:
			{
				static SPIPlanPtr plan;
				const char *v[1] = {m->sender};

				q(&plan, "SELECT coalesce(string_agg(ur.role_name, ', ' ORDER BY ur.role_name), '-')"
				  "  FROM mekatek.ledger_user u JOIN mekatek.ledger_user_role ur USING (user_id) WHERE u.phone = $1",
				  1, v);
				appendStringInfo(m->reply, "%s, %s, roles: %s.", m->user_name[0] ? m->user_name : "(no name)",
								 m->sender, lk_col_text(0, 1));
				answered(m);
				break;
			}
		case LK_PING:
			appendStringInfoString(m->reply, "pong");
			answered(m);
			break;
		case LK_MATH:
			appendStringInfo(m->reply, "%s = %lld", rest, (long long) c->amount);
			answered(m);
			break;
		case LK_BROADCAST:
			{
				static SPIPlanPtr plan;
				const char *v[3] = {rest, text_to_cstring(m->source), text_to_cstring(m->message_id)};

				q(&plan,
				  "SELECT count(mekatek.outbox_enqueue('ledger', jsonb_build_object('group_id', group_id,"
				  " 'reply', $1, 'source', $2, 'message_id', $3, 'action', 'broadcast')))"
				  "  FROM mekatek.ledger_group WHERE deleted_at IS NULL", 3, v);
				appendStringInfo(m->reply, "Broadcast queued for %s groups.", lk_col_text(0, 1));
				changed(m, rest, NULL, NULL);
				break;
			}
		case LK_TAGALL:
			/* the bot knows the members; the database says when */
			appendStringInfo(m->reply, "Calling everyone in %s.", m->group_name);
			m->action = "tagall";
			answered(m);
			break;
		case LK_AUTOCHARGE:
			{
				static SPIPlanPtr plan;
				const char *v[2] = {group, c->args[0].len == 2 ? "true" : "false"};

				q(&plan, "UPDATE mekatek.ledger_group SET autocharge = $2::boolean WHERE group_id = $1", 2, v);
				appendStringInfo(m->reply, "Automatic reminders for %s are %s.", m->group_name,
								 c->args[0].len == 2 ? "on" : "off");
				changed(m, v[1], NULL, NULL);
				break;
			}
		default:
			elog(ERROR, "ledger: no handler for command %d", (int) c->cmd);
	}
}

/* ---------------------------------------------------------------- setup */

PG_FUNCTION_INFO_V1(mk_ledger_setup);
Datum
mk_ledger_setup(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr roles,
				owner,
				log;
	char	   *raw;
	char		phone[16];
	const char *v[2];

	raw = mk_arg_cstring(fcinfo, 0, "owner_phone", false);
	if (lk_phone(raw, strlen(raw), phone) < 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Write the number with its country code (62812...) or as 0812...; 8 to 15 digits.",
				 "argument \"owner_phone\" is not a phone number: \"%.24s\"", raw);
	v[0] = phone;
	v[1] = PG_ARGISNULL(1) ? "owner" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	SPI_connect();
	q(&roles,
	  "WITH r AS (INSERT INTO mekatek.ledger_role (role_name, description) VALUES"
	  "   ('owner', 'every command'), ('seller', 'the daily commands of a seller (admin in the paper)'),"
	  "   ('buyer', 'a customer: its own group''s total')"
	  "   ON CONFLICT DO NOTHING RETURNING role_name)"
	  " INSERT INTO mekatek.ledger_role_permission (role_name, command, own_group_only)"
	  " SELECT r.role_name, c.command, r.role_name = 'buyer' FROM r JOIN mekatek.ledger_command c"
	  "   ON r.role_name = 'owner'"
	  "   OR (r.role_name = 'seller' AND c.command IN ('done', 'cancel', 'payment', 'total', 'totalall',"
	  "        'settle', 'settleall', 'report', 'groupadd', 'groupedit', 'grouplist', 'info', 'commands',"
	  "        'ping', 'math', 'tagall', 'autocharge'))"
	  "   OR (r.role_name = 'buyer' AND c.command IN ('total', 'info', 'commands', 'ping'))",
	  0, NULL);
	q(&owner,
	  "WITH u AS (INSERT INTO mekatek.ledger_user (phone, name) VALUES ($1, $2)"
	  "           ON CONFLICT (phone) DO UPDATE SET name = EXCLUDED.name RETURNING user_id)"
	  " INSERT INTO mekatek.ledger_user_role (user_id, role_name) SELECT user_id, 'owner' FROM u"
	  " ON CONFLICT DO NOTHING", 2, v);
	q(&log,
	  "INSERT INTO mekatek.ledger_audit (actor, command, detail)"
	  " VALUES (session_user, 'ledger_setup', jsonb_build_object('owner_phone', $1, 'owner_name', $2))", 2, v);
	SPI_finish();
	PG_RETURN_VOID();
}
