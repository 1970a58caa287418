/*
 * parse.c: the ledger's chat command parser (see parse.h).
 *
 * Amounts are whole rupiah.  Indonesian sellers write thousands with "."
 * (50.000) and decimals with "," (1,5jt), but phones autocorrect and
 * English keyboards swap them, so both separators are accepted as a
 * thousands separator when every group after it has three digits.  Any
 * form that could mean two amounts (1.5, 50.00, 1.500rb) is refused with
 * the reason: a wrong guess would silently put the wrong number in the
 * books, a refusal costs the seller one retyped message.
 */
#include "ledger/parse.h"

#include <stdio.h>
#include <string.h>

const char *const lk_cmd_name[LK_NCMD] = {
	NULL,
#define X(id, name) name,
	LK_COMMANDS(X)
#undef X
};

/* Misspellings printed in the paper's command list, accepted as aliases. */
static const struct
{
	const char *word;
	lk_cmdid	cmd;
}			lk_alias[] = {
	{"roledelate", LK_ROLEDELETE},
	{"roledlist", LK_ROLELIST},
};

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
}

static size_t
skip_space(const char *s, size_t len, size_t i)
{
	while (i < len && is_space(s[i]))
		i++;
	return i;
}

/* Case-insensitive: does s[i..] start with the lower-case word w? */
static int
has_word(const char *s, size_t len, size_t i, const char *w)
{
	size_t		n = strlen(w);

	if (len - i < n)
		return 0;
	for (size_t k = 0; k < n; k++)
		if (lower(s[i + k]) != w[k])
			return 0;
	return 1;
}

/* At most 24 bytes of the value, for messages that name it. */
static int
shown(size_t n)
{
	return n > 24 ? 24 : (int) n;
}

/*
 * End of the token at i: the amount ends at a space or the end of the
 * body; for quoting the bad value.
 */
static size_t
token_end(const char *s, size_t len, size_t i)
{
	while (i < len && !is_space(s[i]))
		i++;
	return i;
}

size_t
lk_parse_amount(const char *s, size_t len, int64_t *v, char *err, size_t errlen)
{
	size_t		i = 0;
	size_t		start;
	size_t		run_start[8];
	size_t		run_len[8];
	int			nruns = 0;
	char		sep = 0;
	int64_t		mult = 1;
	size_t		end;
	int64_t		val = 0;

	*v = 0;
	err[0] = '\0';
	if (has_word(s, len, 0, "rp"))
	{
		i = 2;
		if (i < len && s[i] == '.')
			i++;
		i = skip_space(s, len, i);
	}
	start = i;
	if (i >= len || !is_digit(s[i]))
	{
		snprintf(err, errlen, "expected an amount, not \"%.*s\"",
				 shown(token_end(s, len, i) - i), s + i);
		return 0;
	}
	/* digit runs separated by one kind of separator */
	for (;;)
	{
		size_t		r = i;

		while (i < len && is_digit(s[i]))
			i++;
		if (nruns == 8 || i - r > 13)
		{
			snprintf(err, errlen, "amount \"%.*s\" is too large",
					 shown(token_end(s, len, start) - start), s + start);
			return 0;
		}
		run_start[nruns] = r;
		run_len[nruns] = i - r;
		nruns++;
		if (i + 1 < len && (s[i] == '.' || s[i] == ',') && is_digit(s[i + 1]))
		{
			if (sep && s[i] != sep)
			{
				snprintf(err, errlen, "amount \"%.*s\" mixes \".\" and \",\": write whole rupiah, e.g. 50.000",
						 shown(token_end(s, len, start) - start), s + start);
				return 0;
			}
			sep = s[i];
			i++;
			continue;
		}
		break;
	}
	end = i;

	/* a multiplier word, glued or after one space: 50rb, 50 rb, 1,5jt */
	{
		static const struct
		{
			const char *w;
			int64_t		m;
		}			suf[] = {
			{"ribu", 1000}, {"rb", 1000}, {"k", 1000}, {"juta", 1000000}, {"jt", 1000000},
		};
		size_t		j = i;

		if (j < len && s[j] == ' ')
			j++;
		for (size_t k = 0; k < sizeof(suf) / sizeof(suf[0]); k++)
		{
			size_t		n = strlen(suf[k].w);

			if (has_word(s, len, j, suf[k].w) && (j + n == len || is_space(s[j + n])))
			{
				mult = suf[k].m;
				i = j + n;
				break;
			}
		}
	}

	if (mult == 1)
	{
		if (nruns > 1)
		{
			if (run_len[0] > 3 || s[run_start[0]] == '0')
			{
				snprintf(err, errlen, "amount \"%.*s\" is ambiguous: a thousands group has 1 to 3 digits before \"%c\"",
						 shown(end - start), s + start, sep);
				return 0;
			}
			for (int r = 1; r < nruns; r++)
				if (run_len[r] != 3)
				{
					snprintf(err, errlen, "amount \"%.*s\" is ambiguous: write whole rupiah as 50000 or 50.000 (groups of 3 digits)",
							 shown(end - start), s + start);
					return 0;
				}
		}
		else if (run_len[0] > 1 && s[run_start[0]] == '0')
		{
			snprintf(err, errlen, "amount \"%.*s\" starts with 0", shown(end - start), s + start);
			return 0;
		}
		/* the bookkeeper's ",-": Rp 50.000,- */
		if (i + 1 < len && s[i] == ',' && s[i + 1] == '-')
			i += 2;
	}
	else if (nruns > 2 || (nruns == 2 && run_len[1] > 2))
	{
		snprintf(err, errlen, "amount \"%.*s\" is ambiguous: with rb/k/jt write at most 2 decimals, e.g. 1,5jt",
				 shown(i - start), s + start);
		return 0;
	}
	else if (run_len[0] > 1 && s[run_start[0]] == '0')
	{
		snprintf(err, errlen, "amount \"%.*s\" starts with 0", shown(i - start), s + start);
		return 0;
	}

	if (i < len && !is_space(s[i]))
	{
		snprintf(err, errlen, "unexpected \"%.*s\" after the amount",
				 shown(token_end(s, len, i) - i), s + i);
		return 0;
	}

	if (mult == 1)
	{
		for (int r = 0; r < nruns; r++)
			for (size_t k = 0; k < run_len[r]; k++)
			{
				val = val * 10 + (s[run_start[r] + k] - '0');
				if (val > LK_AMOUNT_MAX)
					goto too_large;
			}
	}
	else
	{
		int64_t		frac = 0,
					scale = 1;

		for (size_t k = 0; k < run_len[0]; k++)
		{
			val = val * 10 + (s[run_start[0] + k] - '0');
			if (val > LK_AMOUNT_MAX / mult)
				goto too_large;
		}
		val *= mult;
		if (nruns == 2)
		{
			for (size_t k = 0; k < run_len[1]; k++)
			{
				frac = frac * 10 + (s[run_start[1] + k] - '0');
				scale *= 10;
			}
			val += frac * (mult / scale);	/* mult >= 1000: exact */
			if (val > LK_AMOUNT_MAX)
				goto too_large;
		}
	}
	*v = val;
	return i;

too_large:
	snprintf(err, errlen, "amount \"%.*s\" is too large (at most Rp999.999.999.999)",
			 shown(i - start), s + start);
	return 0;
}

size_t
lk_format_amount(int64_t v, char *buf)
{
	char		digits[24];
	int			n = 0;
	uint64_t	m = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;
	size_t		o = 0;

	do
	{
		digits[n++] = (char) ('0' + m % 10);
		m /= 10;
	} while (m > 0);
	if (v < 0)
		buf[o++] = '-';
	buf[o++] = 'R';
	buf[o++] = 'p';
	for (int k = n - 1; k >= 0; k--)
	{
		buf[o++] = digits[k];
		if (k > 0 && k % 3 == 0)
			buf[o++] = '.';
	}
	buf[o] = '\0';
	return o;
}

int
lk_phone(const char *s, size_t len, char *out)
{
	int			n = 0;
	size_t		i = 0;

	if (i < len && s[i] == '+')
		i++;
	for (; i < len && s[i] != '@'; i++)
	{
		char		c = s[i];

		if (is_digit(c))
		{
			if (n == 0 && c == '0')
			{
				/* national format 0812... is +62 812... */
				out[n++] = '6';
				out[n++] = '2';
				continue;
			}
			if (n == 15)
				return -1;
			out[n++] = c;
		}
		else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')')
			return -1;
	}
	if (i < len && !(len - i == 5 && memcmp(s + i, "@c.us", 5) == 0) &&
		!(len - i == 15 && memcmp(s + i, "@s.whatsapp.net", 15) == 0))
		return -1;
	if (n < 8)
		return -1;
	out[n] = '\0';
	return n;
}

/* ---------------------------------------------------------------- math */

typedef struct lk_calc
{
	const char *s;
	size_t		len;
	size_t		i;
	int			depth;
	char	   *err;
	size_t		errlen;
} lk_calc;

/* Intermediate results stay within +-10^15, so + and - cannot overflow. */
#define LK_MATH_MAX		(LK_AMOUNT_MAX * 1000)

static int
calc_fail(lk_calc *c, const char *msg)
{
	snprintf(c->err, c->errlen, "%s", msg);
	return 0;
}

static int	calc_expr(lk_calc *c, int64_t *v, int level);

static int
calc_atom(lk_calc *c, int64_t *v)
{
	c->i = skip_space(c->s, c->len, c->i);
	if (c->i < c->len && (c->s[c->i] == '(' || c->s[c->i] == '-'))
	{
		int			paren = c->s[c->i] == '(';

		if (++c->depth > 32)
			return calc_fail(c, "expression nests too deeply");
		c->i++;
		if (!(paren ? calc_expr(c, v, 0) : calc_atom(c, v)))
			return 0;
		if (paren)
		{
			c->i = skip_space(c->s, c->len, c->i);
			if (c->i >= c->len || c->s[c->i] != ')')
				return calc_fail(c, "missing \")\"");
			c->i++;
		}
		else
			*v = -*v;
		c->depth--;
		return 1;
	}
	if (c->i >= c->len || !is_digit(c->s[c->i]))
	{
		snprintf(c->err, c->errlen, "expected a number at \"%.*s\"",
				 shown(token_end(c->s, c->len, c->i) - c->i), c->s + c->i);
		return 0;
	}
	*v = 0;
	while (c->i < c->len && is_digit(c->s[c->i]))
	{
		*v = *v * 10 + (c->s[c->i] - '0');
		if (*v > LK_AMOUNT_MAX)
			return calc_fail(c, "number too large");
		c->i++;
	}
	return 1;
}

/* level 0: a sum of products; level 1: a product of atoms (x and : too) */
static int
calc_expr(lk_calc *c, int64_t *v, int level)
{
	if (!(level == 0 ? calc_expr(c, v, 1) : calc_atom(c, v)))
		return 0;
	for (;;)
	{
		int64_t		r;
		char		op;

		c->i = skip_space(c->s, c->len, c->i);
		if (c->i >= c->len)
			return 1;
		op = c->s[c->i];
		if (op == 'x' || op == 'X')
			op = '*';
		else if (op == ':')
			op = '/';
		if (level == 0 ? (op != '+' && op != '-') : (op != '*' && op != '/'))
			return 1;
		c->i++;
		if (!(level == 0 ? calc_expr(c, &r, 1) : calc_atom(c, &r)))
			return 0;
		if (op == '+')
			*v += r;
		else if (op == '-')
			*v -= r;
		else if (op == '*')
		{
			if (__builtin_mul_overflow(*v, r, v))
				return calc_fail(c, "result too large");
		}
		else if (r == 0)
			return calc_fail(c, "division by zero");
		else if (*v % r != 0)
		{
			snprintf(c->err, c->errlen, "%lld / %lld is not a whole number",
					 (long long) *v, (long long) r);
			return 0;
		}
		else
			*v /= r;
		if (*v > LK_MATH_MAX || *v < -LK_MATH_MAX)
			return calc_fail(c, "result too large");
	}
}

int
lk_math(const char *s, size_t len, int64_t *v, char *err, size_t errlen)
{
	lk_calc		c = {s, len, 0, 0, err, errlen};

	err[0] = '\0';
	if (!calc_expr(&c, v, 0))
		return 0;
	c.i = skip_space(s, len, c.i);
	if (c.i < len)
	{
		snprintf(err, errlen, "unexpected \"%.*s\"", shown(token_end(s, len, c.i) - c.i), s + c.i);
		return 0;
	}
	return 1;
}

/* ---------------------------------------------------------------- commands */

static int
reject(lk_cmd *out, const char *fmt, int n, const char *p)
{
	snprintf(out->error, LK_ERR_LEN, fmt, n, p);
	return LK_REJECT;
}

/* The next word at *i (advanced past it); len 0 at the end. */
static lk_span
next_word(const char *s, size_t len, size_t *i)
{
	lk_span		w;

	*i = skip_space(s, len, *i);
	w.p = s + *i;
	w.len = (int) (token_end(s, len, *i) - *i);
	*i += w.len;
	return w;
}

static lk_span
rest_of(const char *s, size_t len, size_t i)
{
	lk_span		r;
	size_t		e = len;

	i = skip_space(s, len, i);
	while (e > i && is_space(s[e - 1]))
		e--;
	r.p = s + i;
	r.len = (int) (e - i);
	return r;
}

static int
valid_phone(lk_span w)
{
	char		buf[16];

	return w.len > 0 && lk_phone(w.p, w.len, buf) > 0;
}

static int
valid_role(lk_span w)
{
	if (w.len < 1 || w.len > 32)
		return 0;
	for (int k = 0; k < w.len; k++)
	{
		char		c = lower(w.p[k]);

		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '_'))
			return 0;
	}
	return 1;
}

static lk_cmdid
command_of(const char *w, int n)
{
	for (int c = 1; c < LK_NCMD; c++)
		if ((int) strlen(lk_cmd_name[c]) == n && memcmp(lk_cmd_name[c], w, n) == 0)
			return (lk_cmdid) c;
	for (size_t a = 0; a < sizeof(lk_alias) / sizeof(lk_alias[0]); a++)
		if ((int) strlen(lk_alias[a].word) == n && memcmp(lk_alias[a].word, w, n) == 0)
			return lk_alias[a].cmd;
	return LK_NONE;
}

/* yyyy-mm-dd, a real calendar day. */
static int32_t
parse_date(lk_span w)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			y,
				m,
				d;

	if (w.len != 10 || w.p[4] != '-' || w.p[7] != '-')
		return 0;
	for (int k = 0; k < 10; k++)
		if (k != 4 && k != 7 && !is_digit(w.p[k]))
			return 0;
	y = (w.p[0] - '0') * 1000 + (w.p[1] - '0') * 100 + (w.p[2] - '0') * 10 + (w.p[3] - '0');
	m = (w.p[5] - '0') * 10 + (w.p[6] - '0');
	d = (w.p[8] - '0') * 10 + (w.p[9] - '0');
	if (y < 2000 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 0;
	return y * 10000 + m * 100 + d;
}

static lk_status
parse_done(const char *s, size_t len, size_t i, lk_cmd *out)
{
	size_t		q = skip_space(s, len, i);
	size_t		used;
	int64_t		qty = 0;

	i = q;
	while (i < len && is_digit(s[i]) && i - q < 7)
		qty = qty * 10 + (s[i++] - '0');
	if (i == q)
		return reject(out, "done needs <qty> x <price>, e.g. done 2 x 50000%.*s", 0, "");
	i = skip_space(s, len, i);
	if (i < len && (s[i] == 'x' || s[i] == 'X' || s[i] == '*'))
		i++;
	else if (i + 1 < len && (unsigned char) s[i] == 0xC3 && (unsigned char) s[i + 1] == 0x97)
		i += 2;					/* U+00D7 MULTIPLICATION SIGN */
	else
		return reject(out, "done needs <qty> x <price>: \"x\" or \"*\" missing after \"%.*s\"",
					  shown(i - q), s + q);
	if (qty < 1 || qty > LK_QTY_MAX)
		return reject(out, "quantity \"%.*s\" must be 1 to 100000", shown(i - q), s + q);
	out->qty = (int32_t) qty;
	i = skip_space(s, len, i);
	used = lk_parse_amount(s + i, len - i, &out->amount, out->error, LK_ERR_LEN);
	if (used == 0)
		return LK_REJECT;
	if (out->amount < 1)
		return reject(out, "price must be at least Rp1, not \"%.*s\"", shown(used), s + i);
	out->rest = rest_of(s, len, i + used);
	return LK_OK;
}

lk_status
lk_parse(const char *s, size_t len, lk_cmd *out)
{
	size_t		i;
	char		word[16];
	int			n = 0;
	lk_span		a;

	memset(out, 0, sizeof(*out));
	out->rest.p = s;
	i = skip_space(s, len, 0);
	if (i < len && (s[i] == '/' || s[i] == '!'))
		i++;
	while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
	{
		if (n == (int) sizeof(word))
			return LK_CHATTER;
		word[n++] = lower(s[i++]);
	}
	if (n == 0 || (i < len && !is_space(s[i])))
		return LK_CHATTER;
	out->cmd = command_of(word, n);
	if (out->cmd == LK_NONE)
		return LK_CHATTER;

	switch (out->cmd)
	{
		case LK_DONE:
			return parse_done(s, len, i, out);

		case LK_PAYMENT:
			{
				size_t		used;

				i = skip_space(s, len, i);
				if (i >= len)
					return reject(out, "payment needs an amount, e.g. payment 150.000%.*s", 0, "");
				used = lk_parse_amount(s + i, len - i, &out->amount, out->error, LK_ERR_LEN);
				if (used == 0)
					return LK_REJECT;
				if (out->amount < 1)
					return reject(out, "payment must be at least Rp1, not \"%.*s\"", shown(used), s + i);
				out->rest = rest_of(s, len, i + used);
				return LK_OK;
			}

		case LK_MATH:
			out->rest = rest_of(s, len, i);
			if (out->rest.len == 0)
				return reject(out, "math needs an expression, e.g. math 2*50000+3000%.*s", 0, "");
			if (!lk_math(out->rest.p, out->rest.len, &out->amount, out->error, LK_ERR_LEN))
				return LK_REJECT;
			return LK_OK;

		case LK_BROADCAST:
			out->rest = rest_of(s, len, i);
			if (out->rest.len == 0)
				return reject(out, "broadcast needs the text to send%.*s", 0, "");
			return LK_OK;

		case LK_REPORT:
			while ((a = next_word(s, len, &i)).len > 0)
			{
				int32_t		d = parse_date(a);

				if (out->nargs == 2)
					return reject(out, "report takes at most two dates, not \"%.*s\"", shown(a.len), a.p);
				if (d == 0)
					return reject(out, "report: \"%.*s\" is not a date (write 2026-12-01)", shown(a.len), a.p);
				out->args[out->nargs++] = a;
				if (out->nargs == 1)
					out->date_from = out->date_to = d;
				else
					out->date_to = d;
			}
			if (out->date_to < out->date_from)
				return reject(out, "report: the period ends before it starts%.*s", 0, "");
			return LK_OK;

		case LK_GROUPADD:
		case LK_GROUPEDIT:
			a = next_word(s, len, &i);
			if (!valid_phone(a))
				return reject(out, "expected the buyer's phone number, not \"%.*s\"", shown(a.len), a.p);
			out->args[out->nargs++] = a;
			out->rest = rest_of(s, len, i);
			if (out->cmd == LK_GROUPEDIT && out->rest.len > 0)
				return reject(out, "groupedit takes only the phone number, not \"%.*s\"", shown(out->rest.len), out->rest.p);
			return LK_OK;

		case LK_USERADD:
		case LK_USEREDIT:
		case LK_USERROLEEDIT:
			a = next_word(s, len, &i);
			if (!valid_phone(a))
				return reject(out, "expected a phone number, not \"%.*s\"", shown(a.len), a.p);
			out->args[out->nargs++] = a;
			a = next_word(s, len, &i);
			if (out->cmd == LK_USEREDIT ? !valid_phone(a) : !valid_role(a))
				return reject(out, out->cmd == LK_USEREDIT ? "expected the new phone number, not \"%.*s\""
							  : "expected a role name (letters, digits, _), not \"%.*s\"", shown(a.len), a.p);
			out->args[out->nargs++] = a;
			out->rest = rest_of(s, len, i);
			if (out->cmd == LK_USERROLEEDIT && out->rest.len > 0)
				return reject(out, "userroleedit takes a phone number and a role, not \"%.*s\"", shown(out->rest.len), out->rest.p);
			if (out->rest.len > 100)
				return reject(out, "name is too long (at most 100 bytes)%.*s", 0, "");
			return LK_OK;

		case LK_ROLEADD:
		case LK_ROLEDELETE:
		case LK_ROLEEDIT:
			a = next_word(s, len, &i);
			if (!valid_role(a))
				return reject(out, "expected a role name (letters, digits, _), not \"%.*s\"", shown(a.len), a.p);
			out->args[out->nargs++] = a;
			if (out->cmd == LK_ROLEADD)
			{
				out->rest = rest_of(s, len, i);
				return LK_OK;
			}
			if (out->cmd == LK_ROLEDELETE)
			{
				out->rest = rest_of(s, len, i);
				if (out->rest.len > 0)
					return reject(out, "roledelete takes only the role name, not \"%.*s\"", shown(out->rest.len), out->rest.p);
				return LK_OK;
			}
			/* roleedit seller +report -math +total:own */
			while ((a = next_word(s, len, &i)).len > 0)
			{
				int			cl = a.len - 1;
				char		cw[16];

				if (out->nargs == LK_MAX_ARGS)
					return reject(out, "roleedit takes at most 11 changes%.*s", 0, "");
				if (a.p[0] != '+' && a.p[0] != '-')
					return reject(out, "roleedit: write +command or -command, not \"%.*s\"", shown(a.len), a.p);
				if (cl > 4 && memcmp(a.p + a.len - 4, ":own", 4) == 0 && a.p[0] == '+')
					cl -= 4;
				if (cl < 1 || cl > 15)
					return reject(out, "roleedit: unknown command \"%.*s\"", shown(a.len), a.p);
				for (int k = 0; k < cl; k++)
					cw[k] = lower(a.p[1 + k]);
				if (command_of(cw, cl) == LK_NONE)
					return reject(out, "roleedit: unknown command \"%.*s\"", shown(a.len), a.p);
				out->args[out->nargs++] = a;
			}
			if (out->nargs == 1)
				return reject(out, "roleedit needs changes, e.g. roleedit seller +report -math%.*s", 0, "");
			return LK_OK;

		case LK_AUTOCHARGE:
			a = next_word(s, len, &i);
			if (!((a.len == 2 && has_word(a.p, 2, 0, "on")) || (a.len == 3 && has_word(a.p, 3, 0, "off"))))
				return reject(out, "autocharge takes on or off, not \"%.*s\"", shown(a.len), a.p);
			out->args[out->nargs++] = a;
			out->rest = rest_of(s, len, i);
			if (out->rest.len > 0)
				return reject(out, "autocharge takes on or off, not \"%.*s\"", shown(out->rest.len), out->rest.p);
			return LK_OK;

		default:
			/* commands without arguments: extra words are a mistake, not chatter */
			out->rest = rest_of(s, len, i);
			if (out->rest.len > 0)
			{
				snprintf(out->error, LK_ERR_LEN, "%s takes no arguments, not \"%.*s\"",
						 lk_cmd_name[out->cmd], shown(out->rest.len), out->rest.p);
				return LK_REJECT;
			}
			return LK_OK;
	}
}
