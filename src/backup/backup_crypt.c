/*
 * backup_crypt.c: AES-256-GCM for backup objects (OpenSSL EVP) and the key
 * file.  Format and reasons: backup_crypt.h.
 *
 * Keys come from the file named by mekatek.backup_key_file (superuser-only,
 * read by the server; lines "<key id> <64 hex digits>", '#' comments; it
 * must not be readable by group or others, as PostgreSQL asks of its
 * ssl_key_file) and from the server's environment (MEKATEK_BACKUP_KEY =
 * "<key id>:<64 hex digits>").  New objects use mekatek.backup_key_id, or
 * the file's first key, or the environment's.  Rotation: put the new key
 * first (or name it), keep the old lines until no catalogued object uses
 * them (backup_object.key_id says which do).
 */
#include "core/mekatek.h"

#include <sys/stat.h>
#include <openssl/rand.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "backup/backup_crypt.h"
#include "backup/s3_copy.h"

#define KEY_LEN 32
#define RAW_CAP (64 * 1024 + MK_ENC_TAG_LEN)

char	   *mk_backup_key_file = NULL;
char	   *mk_backup_key_id = NULL;

static bool
valid_key_id(const char *id, int len)
{
	if (len < 1 || len > MK_ENC_KEY_ID_MAX)
		return false;
	for (int i = 0; i < len; i++)
		if (!(isalnum((unsigned char) id[i]) || id[i] == '_' || id[i] == '-' || id[i] == '.'))
			return false;
	return true;
}

static bool
parse_hex_key(const char *hex, int len, unsigned char *key)
{
	if (len != 2 * KEY_LEN)
		return false;
	for (int i = 0; i < KEY_LEN; i++)
	{
		int			v = 0;

		for (int j = 0; j < 2; j++)
		{
			char		c = hex[2 * i + j];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v |= c - 'A' + 10;
			else
				return false;
		}
		key[i] = (unsigned char) v;
	}
	return true;
}

/*
 * Look key_id up (NULL: the first key) in the key file, then in the
 * environment; copies the key and its id.  False when it is in neither.
 * Errors never quote a line of the file.
 */
static bool
find_key(const char *key_id, unsigned char *key, char *id_out)
{
	const char *env = getenv("MEKATEK_BACKUP_KEY");
	bool		found = false;

	if (mk_backup_key_file && mk_backup_key_file[0])
	{
		struct stat st;
		FILE	   *f;
		char		line[512];
		int			lineno = 0;

		if (stat(mk_backup_key_file, &st) != 0)
			mk_error(ERRCODE_UNDEFINED_FILE, "Check mekatek.backup_key_file.",
					 "could not read the backup key file \"%s\": %m", mk_backup_key_file);
		if (st.st_mode & (S_IRWXG | S_IRWXO))
			mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
					 "chmod 600 the file (it must belong to the server's account).",
					 "backup key file \"%s\" is readable by group or others", mk_backup_key_file);
		f = AllocateFile(mk_backup_key_file, "r");
		if (f == NULL)
			mk_error(ERRCODE_UNDEFINED_FILE, "Check mekatek.backup_key_file.",
					 "could not read the backup key file \"%s\": %m", mk_backup_key_file);
		while (!found && fgets(line, sizeof(line), f))
		{
			char	   *p = line,
					   *id,
					   *hex;
			int			idlen,
						hexlen;

			lineno++;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
				continue;
			id = p;
			while (*p && *p != ' ' && *p != '\t' && *p != '\n')
				p++;
			idlen = p - id;
			while (*p == ' ' || *p == '\t')
				p++;
			hex = p;
			while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
				p++;
			hexlen = p - hex;
			if (!valid_key_id(id, idlen) || !parse_hex_key(hex, hexlen, key))
			{
				explicit_bzero(line, sizeof(line));
				FreeFile(f);
				mk_error(ERRCODE_CONFIG_FILE_ERROR,
						 "Each line is a key id (letters, digits, _ . -, at most 64) and 64 hex digits (openssl rand -hex 32).",
						 "line %d of the backup key file \"%s\" is not \"<key id> <64 hex digits>\"",
						 lineno, mk_backup_key_file);
			}
			if (key_id == NULL || (strlen(key_id) == (size_t) idlen && strncmp(key_id, id, idlen) == 0))
			{
				memcpy(id_out, id, idlen);
				id_out[idlen] = '\0';
				found = true;
			}
		}
		explicit_bzero(line, sizeof(line));
		FreeFile(f);
	}
	if (!found && env && env[0])
	{
		const char *colon = strchr(env, ':');

		if (colon == NULL || !valid_key_id(env, colon - env) ||
			!parse_hex_key(colon + 1, strlen(colon + 1), key))
			mk_error(ERRCODE_CONFIG_FILE_ERROR, "Set it to \"<key id>:<64 hex digits>\".",
					 "the server's MEKATEK_BACKUP_KEY is not \"<key id>:<64 hex digits>\"");
		if (key_id == NULL || (strlen(key_id) == (size_t) (colon - env) &&
							   strncmp(key_id, env, colon - env) == 0))
		{
			memcpy(id_out, env, colon - env);
			id_out[colon - env] = '\0';
			found = true;
		}
	}
	return found;
}

char *
mk_backup_current_key_id(void)
{
	unsigned char key[KEY_LEN];
	char		id[MK_ENC_KEY_ID_MAX + 1];
	const char *want = (mk_backup_key_id && mk_backup_key_id[0]) ? mk_backup_key_id : NULL;
	bool		found = find_key(want, key, id);

	explicit_bzero(key, sizeof(key));
	if (!found && want)
		mk_error(ERRCODE_UNDEFINED_OBJECT,
				 "Add the key to the file named by mekatek.backup_key_file, or reset mekatek.backup_key_id.",
				 "backup key \"%s\" (mekatek.backup_key_id) is not in the key file nor in MEKATEK_BACKUP_KEY",
				 want);
	return found ? pstrdup(id) : NULL;
}

/* The EVP context goes with the memory context it was made in. */
static void
free_ctx_cb(void *arg)
{
	EVP_CIPHER_CTX **ctx = arg;

	if (*ctx)
		EVP_CIPHER_CTX_free(*ctx);
	*ctx = NULL;
}

static void
key_for(const char *key_id, unsigned char *key)
{
	char		id[MK_ENC_KEY_ID_MAX + 1];

	if (!find_key(key_id, key, id))
		mk_error(ERRCODE_UNDEFINED_OBJECT,
				 "Add it to the file named by mekatek.backup_key_file (keys are never passed in SQL).",
				 "backup key \"%s\" is not in the key file nor in MEKATEK_BACKUP_KEY", key_id);
}

static EVP_CIPHER_CTX **
new_ctx(MemoryContext cxt)
{
	EVP_CIPHER_CTX **ctx = MemoryContextAllocZero(cxt, sizeof(EVP_CIPHER_CTX *));
	MemoryContextCallback *cb = MemoryContextAllocZero(cxt, sizeof(MemoryContextCallback));

	*ctx = EVP_CIPHER_CTX_new();
	if (*ctx == NULL)
		mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "could not start AES-256-GCM");
	cb->func = free_ctx_cb;
	cb->arg = ctx;
	MemoryContextRegisterResetCallback(cxt, cb);
	return ctx;
}

void
mk_encryptor_init(MkEncryptor *e, const char *key_id)
{
	unsigned char key[KEY_LEN];
	unsigned char iv[MK_ENC_IV_LEN];
	int			idlen = strlen(key_id);
	int			outl;
	EVP_CIPHER_CTX **ctx;

	if (!valid_key_id(key_id, idlen))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Key ids are letters, digits, _ . - (at most 64).",
				 "invalid backup key id %s", mk_quote_short(key_id));
	key_for(key_id, key);
	if (RAND_bytes(iv, sizeof(iv)) != 1)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "could not draw an IV");
	memcpy(e->header, MK_ENC_MAGIC, MK_ENC_MAGIC_LEN);
	e->header[MK_ENC_MAGIC_LEN] = (char) idlen;
	memcpy(e->header + MK_ENC_MAGIC_LEN + 1, key_id, idlen);
	memcpy(e->header + MK_ENC_MAGIC_LEN + 1 + idlen, iv, MK_ENC_IV_LEN);
	e->header_len = MK_ENC_MAGIC_LEN + 1 + idlen + MK_ENC_IV_LEN;
	ctx = new_ctx(CurrentMemoryContext);
	e->ctx = *ctx;
	if (EVP_EncryptInit_ex(e->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
		EVP_CIPHER_CTX_ctrl(e->ctx, EVP_CTRL_GCM_SET_IVLEN, MK_ENC_IV_LEN, NULL) != 1 ||
		EVP_EncryptInit_ex(e->ctx, NULL, NULL, key, iv) != 1 ||
		EVP_EncryptUpdate(e->ctx, NULL, &outl, (unsigned char *) e->header, e->header_len) != 1)
	{
		explicit_bzero(key, sizeof(key));
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "could not start AES-256-GCM");
	}
	explicit_bzero(key, sizeof(key));
}

void
mk_encryptor_update(MkEncryptor *e, const char *in, int len, char *out)
{
	int			outl;

	if (EVP_EncryptUpdate(e->ctx, (unsigned char *) out, &outl, (const unsigned char *) in, len) != 1 ||
		outl != len)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "AES-256-GCM encryption failed");
}

void
mk_encryptor_final(MkEncryptor *e, char tag[MK_ENC_TAG_LEN])
{
	unsigned char rest[32];
	int			outl;

	if (EVP_EncryptFinal_ex(e->ctx, rest, &outl) != 1 || outl != 0 ||
		EVP_CIPHER_CTX_ctrl(e->ctx, EVP_CTRL_GCM_GET_TAG, MK_ENC_TAG_LEN, tag) != 1)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "AES-256-GCM encryption failed");
}

bool
mk_is_encrypted(const char *data, int len)
{
	return len >= MK_ENC_MAGIC_LEN && memcmp(data, MK_ENC_MAGIC, MK_ENC_MAGIC_LEN) == 0;
}

void
mk_decryptor_init(MkDecryptor *d, MkCryptReadFn read, void *arg, const char *what)
{
	memset(d, 0, sizeof(*d));
	d->read = read;
	d->arg = arg;
	d->what = what;
	d->raw = palloc(RAW_CAP);
	d->cxt = CurrentMemoryContext;
}

static void
read_exact(MkDecryptor *d, char *buf, int n)
{
	int			got = 0;

	while (got < n)
	{
		int			r = d->read(d->arg, buf + got, n - got);

		if (r == 0)
			mk_error(ERRCODE_DATA_CORRUPTED, "The object is damaged or not a Mekatek encrypted object; nothing was written.",
					 "encrypted object %s ends inside its header", d->what);
		got += r;
	}
}

static void
start(MkDecryptor *d)
{
	char		head[MK_ENC_MAGIC_LEN + 1];
	char		iv[MK_ENC_IV_LEN];
	unsigned char key[KEY_LEN];
	int			idlen,
				outl;
	EVP_CIPHER_CTX **ctx;
	char		aad[MK_ENC_HEADER_MAX];

	read_exact(d, head, sizeof(head));
	if (!mk_is_encrypted(head, sizeof(head)))
		mk_error(ERRCODE_DATA_CORRUPTED, NULL, "object %s is not a Mekatek encrypted object", d->what);
	idlen = (unsigned char) head[MK_ENC_MAGIC_LEN];
	if (idlen < 1 || idlen > MK_ENC_KEY_ID_MAX)
		mk_error(ERRCODE_DATA_CORRUPTED, "The object is damaged; nothing was written.",
				 "encrypted object %s has an invalid header", d->what);
	read_exact(d, d->key_id, idlen);
	d->key_id[idlen] = '\0';
	if (!valid_key_id(d->key_id, idlen))
		mk_error(ERRCODE_DATA_CORRUPTED, "The object is damaged; nothing was written.",
				 "encrypted object %s has an invalid header", d->what);
	read_exact(d, iv, sizeof(iv));
	key_for(d->key_id, key);
	memcpy(aad, head, sizeof(head));
	memcpy(aad + sizeof(head), d->key_id, idlen);
	memcpy(aad + sizeof(head) + idlen, iv, sizeof(iv));
	ctx = new_ctx(d->cxt);
	d->ctx = *ctx;
	if (EVP_DecryptInit_ex(d->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
		EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_SET_IVLEN, MK_ENC_IV_LEN, NULL) != 1 ||
		EVP_DecryptInit_ex(d->ctx, NULL, NULL, key, (unsigned char *) iv) != 1 ||
		EVP_DecryptUpdate(d->ctx, NULL, &outl, (unsigned char *) aad,
						  (int) sizeof(head) + idlen + MK_ENC_IV_LEN) != 1)
	{
		explicit_bzero(key, sizeof(key));
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "could not start AES-256-GCM");
	}
	explicit_bzero(key, sizeof(key));
	d->started = true;
}

/*
 * The last 16 bytes are the tag, so ciphertext is held back until more
 * follows or the source ends; at the end the tag is checked, and a wrong
 * key or a changed byte is an ERROR (the caller has written nothing yet:
 * restore and import check the whole object first).
 */
int
mk_decryptor_read(void *arg, char *buf, int maxlen)
{
	MkDecryptor *d = arg;

	if (d->done || maxlen <= 0)
		return 0;
	if (!d->started)
		start(d);
	for (;;)
	{
		int			avail;

		CHECK_FOR_INTERRUPTS();
		while (!d->eof && d->raw_len <= MK_ENC_TAG_LEN)
		{
			int			r = d->read(d->arg, d->raw + d->raw_len, RAW_CAP - d->raw_len);

			if (r == 0)
				d->eof = true;
			d->raw_len += r;
		}
		avail = d->raw_len - MK_ENC_TAG_LEN;
		if (avail > 0)
		{
			int			n = Min(avail, maxlen);
			int			outl;

			if (EVP_DecryptUpdate(d->ctx, (unsigned char *) buf, &outl, (unsigned char *) d->raw, n) != 1)
				mk_error(ERRCODE_INTERNAL_ERROR, NULL, "AES-256-GCM decryption failed");
			memmove(d->raw, d->raw + n, d->raw_len - n);
			d->raw_len -= n;
			if (outl > 0)
				return outl;
			continue;
		}
		if (d->raw_len < MK_ENC_TAG_LEN)
			mk_error(ERRCODE_DATA_CORRUPTED, "The object is damaged; nothing was written.",
					 "encrypted object %s ends before its authentication tag", d->what);
		{
			unsigned char rest[32];
			int			outl;

			if (EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_SET_TAG, MK_ENC_TAG_LEN, d->raw) != 1 ||
				EVP_DecryptFinal_ex(d->ctx, rest, &outl) != 1)
				mk_error(ERRCODE_DATA_CORRUPTED,
						 "The object was changed or damaged, or the key with this id is not the one it was written with; nothing was written.",
						 "encrypted object %s fails authentication with key \"%s\"", d->what, d->key_id);
		}
		d->done = true;
		return 0;
	}
}

void
mk_decryptor_verify(MkDecryptor *d)
{
	char	   *scratch = palloc(64 * 1024);

	while (mk_decryptor_read(d, scratch, 64 * 1024) > 0)
		;
	pfree(scratch);
}

PG_FUNCTION_INFO_V1(mk_backup_key_id_sql);

/*
 * backup_key_id(): the id of the key new encrypted backups use (never the
 * key), NULL when none is set up; backup_run_target stores it in the
 * catalogue.
 */
Datum
mk_backup_key_id_sql(PG_FUNCTION_ARGS)
{
	char	   *id;

	mk_require_admin("mekatek.backup_key_id", MK_BACKUP_ADMIN_HINT);
	id = mk_backup_current_key_id();
	if (id == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(id));
}
