/*
 * settings.c: the backup module's settings, and the log hook that keeps
 * S3 credentials out of the server log (mekatek.s3_profile and the other
 * sources of the keys are in credentials.c).
 */
#include "core/mekatek.h"

#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/guc.h"

#include "backup/backup_crypt.h"
#include "backup/s3_client.h"
#include "backup/s3_copy.h"

char	   *mk_s3_endpoint = NULL;
char	   *mk_s3_region = NULL;
int			mk_s3_uri_style = 0;
char	   *mk_s3_access_key_id = NULL;
char	   *mk_s3_secret_access_key = NULL;
char	   *mk_s3_session_token = NULL;
bool		mk_s3_verify_tls = true;
int			mk_s3_timeout = 60;
int			mk_s3_max_retries = 3;
int			mk_s3_retry_base = 200;

static const struct config_enum_entry uri_styles[] = {
	{"virtual-host", 0, false},
	{"path", 1, false},
	{NULL, 0, false}
};

static emit_log_hook_type prev_emit_log_hook = NULL;

static const char *const credential_settings[] = {
	"mekatek.s3_secret_access_key", "mekatek.s3_session_token", "mekatek.s3_access_key_id"
};

static const char *
credential_in(const char *text)
{
	if (text == NULL)
		return NULL;
	for (int i = 0; i < (int) lengthof(credential_settings); i++)
		if (strstr(text, credential_settings[i]) != NULL)
			return credential_settings[i];
	return NULL;
}

/*
 * Keep credentials out of the server log.  A configuration reload makes the
 * postmaster log "parameter ... changed to <value>" for every setting,
 * superuser-only or not; statement logging would print a SET or ALTER SYSTEM
 * with its value.  Installed in the postmaster when mekatek is in
 * shared_preload_libraries, as it should be.
 */
static void
redact_credentials(ErrorData *edata)
{
	const char *name = credential_in(edata->message);
	const char *secrets[MK_S3_SECRETS_MAX];

	if (name && edata->message_id &&
		strcmp(edata->message_id, "parameter \"%s\" changed to \"%s\"") == 0)
		edata->message = psprintf("parameter \"%s\" changed", name);
	else if (credential_in(debug_query_string))
	{
		const char *at = edata->message ? strstr(edata->message, debug_query_string) : NULL;

		edata->hide_stmt = true;
		if (at)
			edata->message = psprintf("%.*s<a statement naming a Mekatek S3 credential>",
									  (int) (at - edata->message), edata->message);
	}
	/*
	 * Bound parameters are logged in the DETAIL (log_statement) or the
	 * CONTEXT (an error in the portal): set_config($1, $2) with $1 naming a
	 * credential sends the value there before anything knows it is one.
	 */
	if (credential_in(edata->detail))
		edata->detail = pstrdup("parameters: <hidden: one names a Mekatek S3 credential>");
	if (credential_in(edata->detail_log))
		edata->detail_log = pstrdup("parameters: <hidden: one names a Mekatek S3 credential>");
	if (credential_in(edata->context) && strstr(edata->context, "parameters:"))
		edata->context = pstrdup("portal with parameters <hidden: one names a Mekatek S3 credential>");
	/* Whatever the way it came, a known secret's value is never printed. */
	mk_redact_error(edata, secrets, mk_s3_secret_values(secrets, lengthof(secrets)));
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
mk_backup_init(void)
{
	/* Credentials: superuser-only to set and to read, out of SHOW ALL. */
	const int	secret = GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE;

	DefineCustomStringVariable("mekatek.s3_endpoint",
							   "S3 endpoint URL; empty means AWS (https://s3.<region>.amazonaws.com).",
							   NULL, &mk_s3_endpoint, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mekatek.s3_region", "S3 region used in signatures.",
							   NULL, &mk_s3_region, "us-east-1", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("mekatek.s3_uri_style",
							 "S3 addressing: virtual-host (bucket.host/key) or path (host/bucket/key).",
							 NULL, &mk_s3_uri_style, 0, uri_styles, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mekatek.s3_access_key_id", "S3 access key id.",
							   NULL, &mk_s3_access_key_id, "", PGC_SUSET, secret, NULL, NULL, NULL);
	DefineCustomStringVariable("mekatek.s3_secret_access_key",
							   "S3 secret access key: superuser-only, never shown.",
							   NULL, &mk_s3_secret_access_key, "", PGC_SUSET, secret, NULL,
							   mk_s3_secret_assigned, NULL);
	DefineCustomStringVariable("mekatek.s3_session_token",
							   "S3 session token for temporary credentials.",
							   NULL, &mk_s3_session_token, "", PGC_SUSET, secret, NULL,
							   mk_s3_secret_assigned, NULL);
	DefineCustomBoolVariable("mekatek.s3_verify_tls", "Verify the S3 server's TLS certificate.",
							 NULL, &mk_s3_verify_tls, true, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.s3_timeout",
							"S3 request fails after this long without progress.",
							NULL, &mk_s3_timeout, 60, 1, 3600, PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.s3_max_retries",
							"Retries of a failed S3 request (5xx, timeout, reset).",
							NULL, &mk_s3_max_retries, 3, 0, 10, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.s3_retry_base",
							"First retry delay; it doubles at each retry.",
							NULL, &mk_s3_retry_base, 200, 0, 60000, PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	mk_s3_credentials_init();
	DefineCustomStringVariable("mekatek.backup_key_file",
							   "File of backup encryption keys (\"<key id> <64 hex digits>\" per line, mode 0600).",
							   NULL, &mk_backup_key_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("mekatek.backup_key_id",
							   "Key id new encrypted backups use; empty: the key file's first key, else MEKATEK_BACKUP_KEY's.",
							   NULL, &mk_backup_key_id, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.backup_parallel_workers",
							"Parallel workers that format and compress an export of one table (0: the backend alone).",
							"Each worker COPYs block ranges of the table in the export's snapshot; the s3_export option parallel_workers overrides it.",
							&mk_backup_parallel_workers, 2, 0, MK_PARALLEL_WORKERS_MAX, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.backup_parallel_chunk",
							"Heap blocks per range a parallel export worker formats into one compressed frame.",
							"A table smaller than two ranges is exported by the backend alone.",
							&mk_backup_parallel_chunk, 1024, 1, 1024 * 1024, PGC_USERSET, GUC_UNIT_BLOCKS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("mekatek.backup_fast_csv",
							 "Parallel export workers write CSV without COPY's row path, the same bytes.",
							 "Off: every range goes through COPY TO (the comparison the tests make).",
							 &mk_backup_fast_csv, true, PGC_USERSET, 0, NULL, NULL, NULL);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = redact_credentials;
}
