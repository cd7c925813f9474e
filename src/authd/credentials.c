/* credentials: crypt(3) hashes, checked in constant time (see credentials.h). */
#include "credentials.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "table.h"
#include "xmalloc.h"

struct credentials {
	struct table *users;   /* our own copy: the configuration's is wiped */
	struct crypt_data *cd; /* crypt_rn's work area (about 32 KiB) */
	char dummy[CRYPT_OUTPUT_SIZE];
	size_t unusable;
};

/* Schemes strong enough to keep: DES, MD5 and the like are refused. */
static const char *const schemes[] = {"$y$", "$gy$", "$7$", "$2b$", "$2y$", "$2a$", "$6$", "$5$"};

size_t credentials_hash_len(const char *value)
{
	if (value == NULL)
		return 0;
	int known = 0;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]) && !known; i++)
		known = strncmp(value, schemes[i], strlen(schemes[i])) == 0;
	if (!known)
		return 0;
	size_t n = strcspn(value, ": \t");
	return n < CRYPT_OUTPUT_SIZE ? n : 0;
}

static void copy_entry(const char *key, const char *value, void *arg)
{
	struct credentials *c = arg;
	if (credentials_hash_len(value) == 0)
		c->unusable++;
	table_put(c->users, key, value);
}

struct credentials *credentials_new(const struct table *users)
{
	struct credentials *c = xcalloc(1, sizeof(*c));
	c->cd = xcalloc(1, sizeof(*c->cd));
	/* The stand-in for logins that do not exist: a yescrypt hash at
	 * libxcrypt's default cost, what mkpasswd writes by default. */
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)) == NULL)
		fatal("crypt_gensalt: yescrypt is not available");
	const char *h = crypt_rn("raven: no such user", setting, c->cd, (int)sizeof(*c->cd));
	if (h == NULL || h[0] == '*')
		fatal("crypt: yescrypt is not available");
	snprintf(c->dummy, sizeof(c->dummy), "%s", h);
	if (users != NULL) {
		c->users = table_new(table_name(users));
		table_foreach(users, copy_entry, c);
	}
	return c;
}

void credentials_free(struct credentials *c)
{
	if (c == NULL)
		return;
	explicit_bzero(c->cd, sizeof(*c->cd));
	free(c->cd);
	table_free(c->users); /* values are wiped as they go */
	free(c);
}

size_t credentials_unusable(const struct credentials *c)
{
	return c->unusable;
}

void credentials_lookup(const struct credentials *c, const char *login, const char **value)
{
	if (c->users == NULL || !table_lookup(c->users, login, value))
		*value = NULL;
}

int credentials_check(struct credentials *c, const char *login, const char *password, char *canon,
                      size_t canonlen)
{
	const char *value;
	credentials_lookup(c, login, &value);
	return credentials_verify(c, login, value, password, canon, canonlen);
}

int credentials_verify(struct credentials *c, const char *login, const char *value,
                       const char *password, char *canon, size_t canonlen)
{
	size_t len = credentials_hash_len(value);
	int known = len > 0;
	char stored[CRYPT_OUTPUT_SIZE];
	if (known) {
		memcpy(stored, value, len);
		stored[len] = '\0';
	} else {
		snprintf(stored, sizeof(stored), "%s", c->dummy);
		len = strlen(stored);
	}
	const char *out = crypt_rn(password, stored, c->cd, (int)sizeof(*c->cd));
	int ok = known && out != NULL && out[0] != '*' && strlen(out) == len &&
	         CRYPTO_memcmp(out, stored, len) == 0;
	explicit_bzero(c->cd, sizeof(*c->cd)); /* it held the password */
	explicit_bzero(stored, sizeof(stored));
	if (ok) {
		snprintf(canon, canonlen, "%s", login);
		for (char *p = canon; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
	return ok;
}
