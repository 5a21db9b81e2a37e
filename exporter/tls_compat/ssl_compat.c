/* Loaded by poolwatch (never linked) before CivetWeb initialises TLS; see exporter/CMakeLists.txt.
 *
 * Debian 12's libcivetweb 1.15 was built for the OpenSSL 1.1 API and loads OpenSSL at run time:
 * dlopen("libssl.so") and a dlsym() per function. OpenSSL 3 renamed SSL_get_peer_certificate to
 * SSL_get1_peer_certificate (the old name is only a macro in its headers), so that lookup fails
 * and CivetWeb has no TLS. This object's SONAME is "libssl.so": once poolwatch has loaded it,
 * CivetWeb's dlopen("libssl.so") returns it, every other lookup resolves in its dependency
 * libssl.so.3, and the one missing function is defined here with the 1.1 meaning (the caller
 * gets a reference it must free, exactly what the 3.0 function returns). */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *ssl);
X509 *SSL_get_peer_certificate(const SSL *ssl) { return SSL_get1_peer_certificate(ssl); }
