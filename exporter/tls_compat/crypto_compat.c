/* Loaded by poolwatch (never linked) before CivetWeb initialises TLS; see ssl_compat.c.
 *
 * CivetWeb also calls dlopen("libcrypto.so"), a name only the -dev package provides. This object's
 * SONAME is "libcrypto.so" and it depends on libcrypto.so.3, so that dlopen and its lookups work
 * on a runtime-only system (the container image) too. It defines nothing CivetWeb uses. */
int poolwatch_crypto_compat_version(void);
int poolwatch_crypto_compat_version(void) { return 1; }
