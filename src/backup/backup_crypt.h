/*
 * backup_crypt.h: client-side encryption of backup objects with
 * AES-256-GCM (OpenSSL EVP), and the keys it uses.
 *
 * An encrypted object is
 *     "MKE1" | key id length (1 byte) | key id | 12-byte IV | ciphertext | 16-byte tag
 * where the header (everything before the ciphertext) is authenticated
 * too.  The key id names the key in the key file (or the environment), so
 * that a restore after a key rotation finds the key the object was
 * written with; the key itself is never in SQL, a table or a log.
 */
#ifndef MK_BACKUP_CRYPT_H
#define MK_BACKUP_CRYPT_H

#include "postgres.h"

#include <openssl/evp.h>

#define MK_ENC_MAGIC "MKE1"
#define MK_ENC_MAGIC_LEN 4
#define MK_ENC_IV_LEN 12
#define MK_ENC_TAG_LEN 16
#define MK_ENC_KEY_ID_MAX 64
#define MK_ENC_HEADER_MAX (MK_ENC_MAGIC_LEN + 1 + MK_ENC_KEY_ID_MAX + MK_ENC_IV_LEN)

/* Settings (settings.c). */
extern char *mk_backup_key_file;
extern char *mk_backup_key_id;

/* The key id new backups are encrypted with; NULL when no key is set up. */
extern char *mk_backup_current_key_id(void);

/* Streaming encryption for export. */
typedef struct MkEncryptor
{
	EVP_CIPHER_CTX *ctx;
	char		header[MK_ENC_HEADER_MAX];
	int			header_len;
} MkEncryptor;

extern void mk_encryptor_init(MkEncryptor *e, const char *key_id);
/* out must hold len bytes (GCM is a stream mode). */
extern void mk_encryptor_update(MkEncryptor *e, const char *in, int len, char *out);
extern void mk_encryptor_final(MkEncryptor *e, char tag[MK_ENC_TAG_LEN]);

/* A reader of raw object bytes, 0 at the end (as MkReadFn). */
typedef int (*MkCryptReadFn) (void *arg, char *buf, int maxlen);

/* Streaming decryption: a reader over another reader. */
typedef struct MkDecryptor
{
	MkCryptReadFn read;
	void	   *arg;
	EVP_CIPHER_CTX *ctx;
	bool		started;
	bool		eof;
	bool		done;
	char		key_id[MK_ENC_KEY_ID_MAX + 1];
	char	   *raw;			/* ciphertext read, not yet decrypted */
	int			raw_len;
	const char *what;			/* names the object in errors */
	MemoryContext cxt;			/* where the EVP context lives: not COPY's per-row one */
} MkDecryptor;

/* True when the first bytes of an object are an encrypted header. */
extern bool mk_is_encrypted(const char *data, int len);

extern void mk_decryptor_init(MkDecryptor *d, MkCryptReadFn read, void *arg, const char *what);
/* Plaintext bytes; 0 at the end, after the tag was checked (else ERROR). */
extern int	mk_decryptor_read(void *arg, char *buf, int maxlen);
/* Read the whole object and check its tag, keeping nothing. */
extern void mk_decryptor_verify(MkDecryptor *d);

#endif							/* MK_BACKUP_CRYPT_H */
