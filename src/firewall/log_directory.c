/*
 * log_directory.c: the files mekatek.fw_load_file may read (issue 14 §4).
 *
 * pg_read_server_files lets a role read any file the server can read,
 * postgresql.auto.conf with its secrets included, and every line that is
 * not a log line ends up in mekatek.fw_reject.  So fw_load_file reads only
 * inside mekatek.fw_log_directory, a superuser setting that is empty (every
 * file refused) until a DBA names the directory the logs are shipped to.
 * The check is on the resolved path: a ".." component is refused outright
 * (it says what the caller meant), then realpath() resolves every symlink
 * and the result must lie strictly inside the resolved directory.  The
 * file is then opened by that resolved name and its identity compared with
 * what realpath saw, so a symlink swapped in between is refused too.
 */
#include "core/mekatek.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "storage/fd.h"
#include "utils/guc.h"

#include "firewall/firewall.h"

char	   *fw_log_directory = NULL;

static bool
has_dotdot(const char *path)
{
	const char *p = path;

	while ((p = strstr(p, "..")) != NULL)
	{
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return true;
		p += 2;
	}
	return false;
}

static char *
resolve(const char *path, const char *shown, const char *what)
{
	char	   *r = realpath(path, NULL);
	char	   *copy;

	/* errcode_for_file_access() calls these XX000: they are the caller's */
	if (r == NULL && (errno == ENAMETOOLONG || errno == ELOOP))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not open %s \"%s\" for reading: %m", what, mk_quote_short(shown))));
	if (r == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open %s \"%s\" for reading: %m", what, mk_quote_short(shown)),
				 errhint("A relative path starts in mekatek.fw_log_directory.")));
	copy = pstrdup(r);
	free(r);
	return copy;
}

FILE *
mk_fw_open_log_file(const char *path, char **resolved)
{
	const char *dir = fw_log_directory;
	char	   *rdir;
	char	   *full;
	char	   *rpath;
	size_t		dlen;
	struct stat before,
				after;
	FILE	   *f;

	if (dir == NULL || *dir == '\0')
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "A superuser names the directory log files are read from: ALTER SYSTEM SET mekatek.fw_log_directory = '/var/log/mekatek'; a client can pass the lines to mekatek.fw_load(text).",
				 "fw_load_file reads no file while mekatek.fw_log_directory is empty");
	if (*path == '\0')
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "fw_load_file: path must not be empty");
	if (has_dotdot(path))
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "Name the file inside mekatek.fw_log_directory without \"..\".",
				 "fw_load_file: path \"%s\" contains a \"..\" component", mk_quote_short(path));
	if (!is_absolute_path(dir))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "mekatek.fw_log_directory \"%s\" is not an absolute path", mk_quote_short(dir));

	rdir = resolve(dir, dir, "mekatek.fw_log_directory");
	/* a relative path is relative to the log directory */
	full = is_absolute_path(path) ? pstrdup(path) : psprintf("%s/%s", rdir, path);
	rpath = resolve(full, path, "file");
	dlen = strlen(rdir);
	if (dlen == 1)
		dlen = 0;				/* the directory is "/" */
	if (strncmp(rpath, rdir, dlen) != 0 || rpath[dlen] != '/' || rpath[dlen + 1] == '\0')
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "fw_load_file reads only files inside mekatek.fw_log_directory (symbolic links resolved).",
				 "fw_load_file: \"%s\" is outside mekatek.fw_log_directory", mk_quote_short(path));
	if (stat(rpath, &before) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", mk_quote_short(path))));
	if (S_ISDIR(before.st_mode))
		mk_error(ERRCODE_WRONG_OBJECT_TYPE, NULL, "\"%s\" is a directory", mk_quote_short(path));
	f = AllocateFile(rpath, PG_BINARY_R);
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", mk_quote_short(path))));
	if (fstat(fileno(f), &after) != 0 || after.st_dev != before.st_dev || after.st_ino != before.st_ino)
	{
		FreeFile(f);
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE, NULL,
				 "fw_load_file: \"%s\" changed while it was opened", mk_quote_short(path));
	}
	*resolved = rpath;
	return f;
}

void
mk_fw_log_directory_init(void)
{
	DefineCustomStringVariable("mekatek.fw_log_directory",
							   "The only directory mekatek.fw_load_file reads files from (empty: it reads none).",
							   "Symbolic links are resolved; the file must lie inside this directory.",
							   &fw_log_directory, "", PGC_SUSET, 0, NULL, NULL, NULL);
}
