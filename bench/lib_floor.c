/* bench/lib_floor.c: the memory floor of what poolwatch links, for `bench/run --mode memory`.
 *
 * Links the shared libraries poolwatch's binary needs (libpq, libz, libcurl, libcivetweb,
 * libcrypt), opens one libpq connection per DSN given on the command line, runs `SELECT 1` on
 * each (which initialises what libpq's connect and authentication initialise: OpenSSL, the
 * password hash), keeps them open, prints "ready" and sleeps. Its RSS is what loading and
 * initialising those libraries costs a process before it does any work of its own. */
#include <civetweb.h>
#include <crypt.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

int main(int argc, char **argv) {
  /* Referenced so that the linker keeps every library poolwatch needs (none is called). */
  void *volatile keep[] = {(void *)curl_easy_init, (void *)mg_start, (void *)deflate,
                           (void *)crypt_r};
  (void)keep;
  for (int i = 1; i < argc; i++) {
    PGconn *c = PQconnectdb(argv[i]);
    if (PQstatus(c) != CONNECTION_OK) {
      fprintf(stderr, "lib_floor: %s", PQerrorMessage(c));
      return 1;
    }
    PQclear(PQexec(c, "SELECT 1"));
  }
  puts("ready");
  fflush(stdout);
  pause();
  return 0;
}
