/*
 * credentials.c: where the S3 access key comes from.
 *
 * The recommended way never sends a secret through SQL: the server's
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
 * or the shared credentials file of the AWS tools
 * (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials of the server's
 * account) with a profile (mekatek.s3_profile, else AWS_PROFILE, else
 * "default").  The mekatek.s3_* settings are kept for those who want them
 * and win when set.  The order follows the AWS CLI: a profile named
 * explicitly (its --profile is our mekatek.s3_profile) is read from the file
 * even when the environment has keys; otherwise the environment comes first.
 */
#include "core/mekatek.h"

#include <sys/stat.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/guc.h"

#include "backup/s3_client.h"

char	   *mk_s3_profile = NULL;

/* A credentials file bigger than this is not one. */
#define MK_CREDENTIALS_FILE_MAX (1024 * 1024)

/*
 * Every secret value this process has seen, for the log hook: a value is
 * redacted wherever a log line repeats it, also after a session has set
 * another one (the configured value is still the server's secret).  Fed by
 * the assign hook of the secret settings and by each load from a file; the
 * environment's is read by the hook itself.  Malloc'd, the oldest replaced
 * when the ring is full.
 */
#define MK_SEEN_MAX 8
static char *seen[MK_SEEN_MAX];
static int	seen_next = 0;

static void
remember(const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	for (int i = 0; i < MK_SEEN_MAX; i++)
		if (seen[i] && strcmp(seen[i], value) == 0)
			return;
	if (seen[seen_next])
		free(seen[seen_next]);
	seen[seen_next] = strdup(value);	/* NULL on OOM: one fewer to redact */
	seen_next = (seen_next + 1) % MK_SEEN_MAX;
}

void
mk_s3_secret_assigned(const char *newval, void *extra)
{
	remember(newval);
}

int
mk_s3_secret_values(const char **out, int max)
{
	const char *env[] = {getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")};
	int			n = 0;

	for (int i = 0; i < (int) lengthof(env) && n < max; i++)
		if (env[i] && env[i][0])
			out[n++] = env[i];
	for (int i = 0; i < MK_SEEN_MAX && n < max; i++)
		if (seen[i])
			out[n++] = seen[i];
	return n;
}

static bool
set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static char *
trim(char *s)
{
	char	   *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static char *
credentials_path(void)
{
	const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *home = getenv("HOME");
	char		pwhome[MAXPGPATH];

	if (set(file))
	{
		if (file[0] == '~' && file[1] == '/' && set(home))
			return psprintf("%s%s", home, file + 1);
		return pstrdup(file);
	}
	if (!set(home))
	{
		if (!get_home_path(pwhome))
			return NULL;
		home = pwhome;
	}
	return psprintf("%s/.aws/credentials", home);
}

/*
 * The profile's keys from the shared credentials file (the INI format the
 * AWS tools read: [profile] sections, key = value, # and ; comments,
 * indented continuation lines ignored).  Returns false when there is no
 * file; a file without the profile, or a profile without both keys, is an
 * ERROR naming the file and the profile, never a value.
 */
static bool
from_file(MkS3Config *cfg, const char *profile, char **where)
{
	char	   *path = credentials_path();
	FILE	   *f;
	struct stat st;
	char	   *data;
	size_t		len;
	bool		in_profile = false;
	bool		seen_profile = false;
	char	   *id = NULL,
			   *secret = NULL,
			   *token = NULL;

	if (path == NULL)
		return false;
	*where = psprintf("profile \"%s\" of %s", profile, path);
	if ((f = AllocateFile(path, "r")) == NULL)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the S3 credentials file \"%s\": %m", path)));
	}
	if (fstat(fileno(f), &st) != 0 || st.st_size > MK_CREDENTIALS_FILE_MAX)
	{
		FreeFile(f);
		mk_error(ERRCODE_CONFIG_FILE_ERROR, NULL,
				 "S3 credentials file \"%s\" is not a credentials file (over %d bytes)",
				 path, MK_CREDENTIALS_FILE_MAX);
	}
	data = palloc(st.st_size + 1);
	len = fread(data, 1, st.st_size, f);
	data[len] = '\0';
	FreeFile(f);

	for (char *line = data, *next; line != NULL; line = next)
	{
		char	   *eq;
		char	   *t;

		CHECK_FOR_INTERRUPTS();
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (line[0] == ' ' || line[0] == '\t')
			continue;			/* a continuation (nested settings) */
		t = trim(line);
		if (t[0] == '\0' || t[0] == '#' || t[0] == ';')
			continue;
		if (t[0] == '[')
		{
			char	   *close = strchr(t, ']');

			if (close)
				*close = '\0';
			in_profile = (strcmp(trim(t + 1), profile) == 0);
			seen_profile |= in_profile;
			continue;
		}
		if (!in_profile || (eq = strchr(t, '=')) == NULL)
			continue;
		*eq = '\0';
		t = trim(t);
		if (pg_strcasecmp(t, "aws_access_key_id") == 0)
			id = trim(eq + 1);
		else if (pg_strcasecmp(t, "aws_secret_access_key") == 0)
			secret = trim(eq + 1);
		else if (pg_strcasecmp(t, "aws_session_token") == 0)
			token = trim(eq + 1);
	}
	if (!seen_profile)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "Add the profile to the file, or name another one with mekatek.s3_profile or the server's AWS_PROFILE.",
				 "S3 credentials: no profile \"%s\" in \"%s\"", profile, path);
	if (!set(id) || !set(secret))
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "A profile needs aws_access_key_id and aws_secret_access_key.",
				 "S3 credentials: profile \"%s\" in \"%s\" has no %s", profile, path,
				 set(id) ? "aws_secret_access_key" : "aws_access_key_id");
	cfg->access_key = pstrdup(id);
	cfg->secret_key = pstrdup(secret);
	cfg->session_token = set(token) ? pstrdup(token) : NULL;
	return true;
}

static bool
from_environment(MkS3Config *cfg)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID");
	const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = getenv("AWS_SESSION_TOKEN");

	if (!set(id) && !set(secret))
		return false;
	if (!set(id) || !set(secret))
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the server's environment, or neither.",
				 "S3 credentials: the server's environment has %s but not %s",
				 set(id) ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
				 set(id) ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	cfg->access_key = pstrdup(id);
	cfg->secret_key = pstrdup(secret);
	cfg->session_token = set(token) ? pstrdup(token) : NULL;
	return true;
}

void
mk_s3_credentials_load(MkS3Config *cfg)
{
	const char *profile = mk_s3_profile;
	char	   *where = NULL;

	if (set(mk_s3_access_key_id) || set(mk_s3_secret_access_key))
	{
		if (!set(mk_s3_access_key_id) || !set(mk_s3_secret_access_key))
			mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
					 "Set both mekatek.s3_access_key_id and mekatek.s3_secret_access_key, or neither (then the server's environment or ~/.aws/credentials are used).",
					 "setting \"%s\" is not set",
					 set(mk_s3_access_key_id) ? "mekatek.s3_secret_access_key" : "mekatek.s3_access_key_id");
		cfg->access_key = pstrdup(mk_s3_access_key_id);
		cfg->secret_key = pstrdup(mk_s3_secret_access_key);
		cfg->session_token = set(mk_s3_session_token) ? pstrdup(mk_s3_session_token) : NULL;
		cfg->credential_source = "the mekatek.s3_* settings";
		return;
	}
	if (!set(profile) && from_environment(cfg))
		cfg->credential_source = "the server's environment (AWS_ACCESS_KEY_ID)";
	else
	{
		if (!set(profile))
			profile = set(getenv("AWS_PROFILE")) ? getenv("AWS_PROFILE") : "default";
		if (!from_file(cfg, profile, &where))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("no S3 credentials: the settings are empty, the server's environment has none and there is no credentials file"),
					 where ? errdetail("Looked for %s.", where) : 0,
					 errhint("Give the server's account an AWS credentials file (~/.aws/credentials, or AWS_SHARED_CREDENTIALS_FILE), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in its environment; or set mekatek.s3_access_key_id and mekatek.s3_secret_access_key.")));
		cfg->credential_source = where;
	}
	remember(cfg->secret_key);
	remember(cfg->session_token);
}

void
mk_s3_credentials_init(void)
{
	DefineCustomStringVariable("mekatek.s3_profile",
							   "Profile of the AWS shared credentials file used when the S3 key settings are empty; empty means the server's AWS_PROFILE, else \"default\".",
							   NULL, &mk_s3_profile, "", PGC_SUSET, 0, NULL, NULL, NULL);
}
