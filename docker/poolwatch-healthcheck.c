/*
 * poolwatch-healthcheck: the container image's shell-free health check and preStop wait.
 *
 * The runtime image runs poolwatch without a shell, curl or wget, so Docker's HEALTHCHECK and a
 * Kubernetes preStop hook need an executable of their own. This one is linked statically, needs
 * nothing from the image, and does only two things:
 *
 *   poolwatch-healthcheck [--url http://127.0.0.1:9930/healthz] [--timeout SECONDS]
 *       GET the URL over plain HTTP/1.0; exit 0 on a 200 answer, 1 otherwise (no answer,
 *       another status, timeout). The host must be a numeric IPv4 address: no DNS.
 *   poolwatch-healthcheck --sleep SECONDS
 *       wait, then exit 0 (the preStop hook that lets PgBouncer drain first).
 *
 * The environment variable POOLWATCH_HEALTHCHECK_URL replaces the default URL.
 * Built by the Dockerfile; tested by tests/lint/image.sh against the real poolwatch binary.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int usage(void) {
  fprintf(stderr,
          "usage: poolwatch-healthcheck [--url http://IPv4:PORT/PATH] [--timeout SECONDS]\n"
          "       poolwatch-healthcheck --sleep SECONDS\n");
  return 2;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd until the deadline; 1 when ready, 0 on timeout or error. */
static int wait_fd(int fd, short events, long long deadline) {
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) return 0;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, (int)left);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return 0;
  }
}

static int check(const char* url, double timeout_s) {
  const char* prefix = "http://";
  if (strncmp(url, prefix, strlen(prefix)) != 0) {
    fprintf(stderr, "poolwatch-healthcheck: only http:// URLs: %s\n", url);
    return 2;
  }
  const char* host = url + strlen(prefix);
  const char* slash = strchr(host, '/');
  const char* path = slash ? slash : "/";
  size_t hostport_len = slash ? (size_t)(slash - host) : strlen(host);
  char hostport[64];
  if (hostport_len == 0 || hostport_len >= sizeof hostport) return usage();
  memcpy(hostport, host, hostport_len);
  hostport[hostport_len] = '\0';
  int port = 80;
  char* colon = strchr(hostport, ':');
  if (colon) {
    *colon = '\0';
    port = atoi(colon + 1);
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, hostport, &addr.sin_addr) != 1) {
    fprintf(stderr, "poolwatch-healthcheck: need a numeric IPv4 host and a port: %s\n", url);
    return 2;
  }

  long long deadline = now_ms() + (long long)(timeout_s * 1000);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return 1;
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0 && errno != EINPROGRESS) {
    fprintf(stderr, "poolwatch-healthcheck: connect %s: %s\n", url, strerror(errno));
    close(fd);
    return 1;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (!wait_fd(fd, POLLOUT, deadline) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
      err != 0) {
    fprintf(stderr, "poolwatch-healthcheck: connect %s: %s\n", url,
            err ? strerror(err) : "timed out");
    close(fd);
    return 1;
  }
  char req[512];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
                   path, hostport);
  if (n <= 0 || (size_t)n >= sizeof req) {
    close(fd);
    return usage();
  }
  for (int sent = 0; sent < n;) {
    if (!wait_fd(fd, POLLOUT, deadline)) break;
    ssize_t w = send(fd, req + sent, (size_t)(n - sent), MSG_NOSIGNAL);
    if (w <= 0) {
      close(fd);
      return 1;
    }
    sent += (int)w;
  }
  /* The status line is all we need: "HTTP/1.x 200 ...". */
  char buf[64];
  size_t got = 0;
  while (got < sizeof buf - 1 && !memchr(buf, '\n', got)) {
    if (!wait_fd(fd, POLLIN, deadline)) break;
    ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  buf[got] = '\0';
  if (strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200", 4) == 0) return 0;
  char* eol = strpbrk(buf, "\r\n");
  if (eol) *eol = '\0';
  fprintf(stderr, "poolwatch-healthcheck: %s answered \"%s\"\n", url, got ? buf : "nothing");
  return 1;
}

int main(int argc, char** argv) {
  const char* url = getenv("POOLWATCH_HEALTHCHECK_URL");
  if (!url || !*url) url = "http://127.0.0.1:9930/healthz";
  double timeout_s = 3;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
      url = argv[++i];
    } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
      timeout_s = atof(argv[++i]);
      if (timeout_s <= 0) return usage();
    } else if (strcmp(argv[i], "--sleep") == 0 && i + 1 < argc) {
      char* end = NULL;
      double s = strtod(argv[++i], &end);
      if (!end || *end || s < 0) return usage();
      struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      }
      return 0;
    } else {
      return usage();
    }
  }
  return check(url, timeout_s);
}
