// The HTTP server under hostile clients (raw sockets): malformed and oversized requests, slow
// clients, many connections at once; and TLS + basic auth from a web config file (with curl).
#include <arpa/inet.h>
#include <crypt.h>
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <thread>

#include "collectors/metrics.h"
#include "exporter/http_loop.h"
#include "exporter/http_server.h"
#include "exporter/web_config.h"
#include "tests/support/raw_socket.h"
#include "tests/support/stack.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using support::ConnectLoopback;
using support::HttpGet;
using support::ReadAll;
using support::RunCommand;
using support::SendAll;
using support::TempDir;
using support::WriteFile;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using namespace std::chrono_literals;

// Sends `request` (ignoring a peer that closes early) and reads until the server closes or
// `timeout` passes. Returns what came back.
std::string Exchange(int port, const std::string& request,
                     std::chrono::milliseconds timeout = 10s) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return "<connect failed>";
  SendAll(fd, request);
  std::string out = ReadAll(fd, timeout, 100ms);
  ::close(fd);
  return out;
}

int ThreadCount() {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

class HardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto snap = std::make_shared<Snapshot>();
    snap->exposition = Expose("# TYPE x gauge\nx 1\n");
    store_.Publish(snap);
  }
  void Start(WebConfig web = {}) {
    HttpState st;
    st.healthy = [this] { return healthy_.load(); };
    st.ready = [this] { return ready_.load(); };
    server_ = std::make_unique<HttpServer>(store_, st, std::move(web));
    std::string err;
    ASSERT_TRUE(server_->Start("127.0.0.1:0", err)) << err;
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  bool StillServes() {
    auto r = HttpGet(base_ + "/metrics", {}, 3000);
    return r.status == 200 && r.body == "# TYPE x gauge\nx 1\n";
  }

  SnapshotStore store_;
  std::unique_ptr<HttpServer> server_;
  std::string base_;
  std::atomic<bool> healthy_{true};
  std::atomic<bool> ready_{true};
};

TEST_F(HardeningTest, MalformedRequestsGetAnErrorOrAClosedConnectionNeverA200) {
  Start();
  const std::vector<std::string> bad = {
      "GARBAGE\r\n\r\n",
      "GET\r\n\r\n",
      "GET /metrics HTTP/9.9\r\n\r\n",
      "GET  HTTP/1.1\r\n\r\n",
      "GET /metrics\r\nHost: x\r\n\r\n",          // HTTP/0.9 style
      "GET /metrics HTTP/1.1\r\nNoColonHeader\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // a TLS hello
      std::string("\0\0\0\0GET / HTTP/1.1\r\n\r\n", 22),
      "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n",  // request line over the cap
      "GET /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
  };
  for (const auto& req : bad) {
    std::string resp = Exchange(server_->port(), req, 8s);
    EXPECT_THAT(resp, Not(StartsWith("HTTP/1.1 200"))) << "request: " << req.substr(0, 60);
    EXPECT_THAT(resp, Not(HasSubstr("x 1"))) << "request: " << req.substr(0, 60);
    ASSERT_TRUE(StillServes()) << "after: " << req.substr(0, 60);
  }
}

TEST_F(HardeningTest, OversizedHeadersAndBodiesAreRefusedAndNothingBreaks) {
  Start();
  std::string huge_header = "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Big: " +
                            std::string(64 * 1024, 'b') + "\r\n\r\n";
  std::string resp = Exchange(server_->port(), huge_header, 8s);
  EXPECT_THAT(resp, Not(StartsWith("HTTP/1.1 200")));
  std::string many_headers = "GET /metrics HTTP/1.1\r\n";
  // 400 headers of 60 bytes: over max_request_size (16 KiB) in all.
  for (int i = 0; i < 400; ++i) {
    many_headers += "X-H" + std::to_string(i) + ": " + std::string(50, 'v') + "\r\n";
  }
  many_headers += "\r\n";
  resp = Exchange(server_->port(), many_headers, 8s);
  EXPECT_THAT(resp, Not(StartsWith("HTTP/1.1 200")));
  // A body announced as 1 GB on an endpoint that takes none: refused without reading it (the
  // worker drains for at most request_timeout before it hangs up).
  auto t0 = std::chrono::steady_clock::now();
  resp = Exchange(server_->port(),
                  "POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000\r\n\r\n" +
                      std::string(8000, 'z'),
                  15s);
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 405"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 12s);
  EXPECT_TRUE(StillServes());
}

TEST_F(HardeningTest, SlowClientsDoNotBlockOthersAndAreCutOff) {
  Start();
  // Four slowloris clients: one header byte per second, for up to 20 seconds.
  std::atomic<bool> stop{false};
  std::vector<std::chrono::milliseconds> lasted(4);
  std::vector<std::thread> slow;
  for (int i = 0; i < 4; ++i) {
    slow.emplace_back([&, i] {
      int fd = ConnectLoopback(server_->port());
      ASSERT_GE(fd, 0);
      std::string req = "GET /metrics HTTP/1.1\r\nX-Slow: " + std::string(100, 's');
      auto t0 = std::chrono::steady_clock::now();
      for (std::size_t k = 0; k < req.size() && !stop; ++k) {
        if (::send(fd, &req[k], 1, MSG_NOSIGNAL) <= 0) break;
        pollfd p{fd, POLLIN, 0};
        // The server closing on us shows up as readable (EOF or an error response).
        if (::poll(&p, 1, 1000) > 0) break;
        if (std::chrono::steady_clock::now() - t0 > 20s) break;
      }
      lasted[i] = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - t0);
      ::close(fd);
    });
  }
  std::this_thread::sleep_for(1500ms);
  // Meanwhile everyone else is served promptly.
  for (int i = 0; i < 20; ++i) {
    auto r = HttpGet(base_ + "/metrics", {}, 3000);
    ASSERT_EQ(r.status, 200);
    EXPECT_LT(r.seconds, 1.0);
  }
  for (auto& t : slow) t.join();
  // The server hangs up on them at its request deadline (5s), not after 20s of dribbling.
  for (auto d : lasted) EXPECT_LT(d, 12s) << d.count() << "ms";
}

TEST_F(HardeningTest, TwoHundredConcurrentClientsAreServedWithBoundedThreads) {
  Start();
  int threads_before = ThreadCount();
  std::atomic<int> ok{0};
  std::atomic<int> peak_threads{0};
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      // Our 200 client threads are counted too: subtract them below.
      peak_threads = std::max(peak_threads.load(), ThreadCount());
      std::this_thread::sleep_for(5ms);
    }
  });
  std::vector<std::thread> clients;
  for (int i = 0; i < 200; ++i) {
    clients.emplace_back([&] {
      std::string resp =
          Exchange(server_->port(), "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 20s);
      if (resp.rfind("HTTP/1.1 200", 0) == 0 && resp.find("x 1") != std::string::npos) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  done = true;
  watcher.join();
  EXPECT_EQ(ok.load(), 200);
  // The server's own threads never grow with the number of clients (16 workers, started up front).
  EXPECT_LE(peak_threads.load() - 200 - 1, threads_before + 2)
      << "before " << threads_before << ", peak " << peak_threads.load();
  EXPECT_TRUE(StillServes());
}

// Reads one whole reply (headers and Content-Length body) from `fd`; "" on EOF or timeout.
std::string ReadReply(int fd, std::chrono::milliseconds timeout = 5s) {
  std::string in;
  auto end = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (std::chrono::steady_clock::now() < end) {
    auto head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      auto cl = in.find("Content-Length: ");
      std::size_t len = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
      if (in.size() >= head_end + 4 + len) return in;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return "";
    in.append(buf, static_cast<std::size_t>(n));
  }
  return "";
}

// True when the server closes `fd` within `timeout` (EOF or reset).
bool ClosedWithin(int fd, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  char buf[256];
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    if (::recv(fd, buf, sizeof(buf), 0) <= 0) return true;
  }
  return false;
}

TEST_F(HardeningTest, KeepAliveReusesTheConnectionAndIdleOnesAreClosedSoon) {
  Start();
  int fd = ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  const std::string get = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
  // Several requests on one connection, each answered whole and announced as kept alive.
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(::send(fd, get.data(), get.size(), MSG_NOSIGNAL), static_cast<ssize_t>(get.size()));
    std::string reply = ReadReply(fd);
    EXPECT_THAT(reply, StartsWith("HTTP/1.1 200")) << "request " << i;
    EXPECT_THAT(reply, HasSubstr("Connection: keep-alive"));
    EXPECT_THAT(reply, HasSubstr("x 1"));
  }
  // An idle kept-alive connection gives its worker back: the server hangs up after its
  // keep-alive timeout (0.5 s), well before the 5 s request deadline.
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(ClosedWithin(fd, 4s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  ::close(fd);

  // A client asking to close, and an HTTP/1.0 client, are told so and are closed at once.
  for (const char* req : {"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                          "GET /healthz HTTP/1.0\r\n\r\n"}) {
    fd = ConnectLoopback(server_->port());
    ASSERT_GE(fd, 0);
    ASSERT_GT(::send(fd, req, std::strlen(req), MSG_NOSIGNAL), 0);
    std::string reply = ReadReply(fd);
    EXPECT_THAT(reply, StartsWith("HTTP/1.1 200")) << req;
    EXPECT_THAT(reply, HasSubstr("Connection: close")) << req;
    EXPECT_TRUE(ClosedWithin(fd, 400ms)) << req;
    ::close(fd);
  }
  // HTTP/1.0 asking for keep-alive gets it.
  fd = ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  const std::string ka10 = "GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
  for (int i = 0; i < 2; ++i) {
    ASSERT_GT(::send(fd, ka10.data(), ka10.size(), MSG_NOSIGNAL), 0);
    std::string reply = ReadReply(fd);
    EXPECT_THAT(reply, HasSubstr("Connection: keep-alive")) << "request " << i;
    EXPECT_THAT(reply, HasSubstr("\r\n\r\nok\n")) << "request " << i;
  }
  ::close(fd);
  EXPECT_TRUE(StillServes());
}

TEST_F(HardeningTest, NoEndpointBeyondTheDocumentedOnes) {
  Start();
  for (const char* path : {"/debug/pprof", "/debug/vars", "/metrics/", "/metrics.json",
                           "/admin", "/config", "/status/", "/.env", "/index.html",
                           "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd"}) {
    auto r = HttpGet(base_ + path);
    EXPECT_EQ(r.status, 404) << path << ": " << r.body;
    EXPECT_THAT(r.body, Not(HasSubstr("root:")));
  }
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "PROPFIND",
                             "MKCOL"}) {
    std::string resp = Exchange(
        server_->port(), std::string(method) + " /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 5s);
    EXPECT_THAT(resp, Not(StartsWith("HTTP/1.1 2"))) << method << ": " << resp;
  }
  for (const char* path : {"/metrics", "/health", "/healthz", "/readyz", "/status", "/"}) {
    EXPECT_EQ(HttpGet(base_ + path).status, 200) << path;
  }
}

// Review findings of the event loop: Accept-Encoding weights, a host name as listen
// address, and a failed Start that leaks nothing.
TEST(AcceptEncodingTest, QZeroRefusesAndWeightsAndWildcardsAreHonoured) {
  for (const char* yes : {"gzip", "GZIP", "x-gzip", "deflate, gzip", "gzip;q=0.5", "gzip; q=1",
                          "*", "br;q=1, *;q=0.1", "gzip;q=0.001", "identity;q=0, gzip"}) {
    EXPECT_TRUE(AcceptsGzip(yes)) << yes;
  }
  for (const char* no : {"", "deflate", "identity", "gzip;q=0", "gzip; q=0.000", "GZIP;Q=0",
                         "*;q=0", "gzip;q=0, *", "br, *;q=0", "gzipx", "notgzip"}) {
    EXPECT_FALSE(AcceptsGzip(no)) << no;
  }
}

TEST_F(HardeningTest, GzipQZeroGetsIdentityOnTheWire) {
  Start();
  auto refused = HttpGet(base_ + "/metrics", {"Accept-Encoding: gzip;q=0, identity"});
  EXPECT_EQ(refused.headers.count("content-encoding"), 0u);
  EXPECT_EQ(refused.body, "# TYPE x gauge\nx 1\n");
  auto wanted = HttpGet(base_ + "/metrics", {"Accept-Encoding: gzip;q=0.8"});
  EXPECT_EQ(wanted.headers["content-encoding"], "gzip");
}

TEST(HttpListenTest, HostNameListenAddressWorksOnThePlainPath) {
  SnapshotStore store;
  auto snap = std::make_shared<Snapshot>();
  snap->exposition = Expose("x 1\n");
  store.Publish(snap);
  HttpServer s(store, {});
  std::string err;
  ASSERT_TRUE(s.Start("localhost:0", err)) << err;
  ASSERT_GT(s.port(), 0);
  auto r = HttpGet("http://127.0.0.1:" + std::to_string(s.port()) + "/metrics");
  EXPECT_EQ(r.status, 200);
  HttpServer bad(store, {});
  EXPECT_FALSE(bad.Start("no-such-host.invalid:0", err));
  EXPECT_THAT(err, HasSubstr("no-such-host.invalid"));
}

TEST_F(HardeningTest, PipelinedRequestsFollowedByFinAllGetTheirResponses) {
  Start();
  int fd = ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  const std::string req =
      "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  ::shutdown(fd, SHUT_WR);  // FIN right behind the requests, like `printf ... | nc`
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  int answers = 0;
  for (std::size_t at = out.find("HTTP/1.1 200"); at != std::string::npos;
       at = out.find("HTTP/1.1 200", at + 1)) {
    ++answers;
  }
  std::printf("3 pipelined requests then FIN: %d answered\n", answers);
  EXPECT_EQ(answers, 3) << out;
  EXPECT_THAT(out, HasSubstr("x 1"));
  EXPECT_THAT(out, HasSubstr("ready\n"));
  EXPECT_TRUE(StillServes());
}

// Review finding: with every connection slot taken by replies to clients that never read, a new
// client was turned away. Now the writer stuck longest is evicted for it.
TEST(EventLoopTest, SlowReadersHoldingEverySlotDoNotLockOutANewClient) {
  static const auto big = std::make_shared<std::string>(std::size_t{16} << 20, 'x');
  LoopLimits limits;
  limits.max_connections = 16;  // the loop's floor
  EventLoopHttp loop(
      [](const LoopRequest& req) {
        LoopReply r;
        if (req.path == "/big") {
          r.body = big->data();
          r.body_size = big->size();
          r.keep = big;
        } else {
          r.owned = "ok\n";
        }
        return r;
      },
      limits);
  std::string err;
  ASSERT_TRUE(loop.Start("127.0.0.1", 0, err)) << err;
  std::vector<int> readers;
  for (int i = 0; i < 16; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(loop.port()));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    const std::string req = "GET /big HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    readers.push_back(fd);  // never read
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // every reply is stuck writing
  auto r = HttpGet("http://127.0.0.1:" + std::to_string(loop.port()) + "/healthz", {}, 3000);
  std::printf("16 slots held by non-reading clients: a new client got %ld in %.3fs\n", r.status,
              r.seconds);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "ok\n");
  for (int fd : readers) ::close(fd);
  loop.Stop();
}

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

TEST(HttpListenTest, AFailedStartLeaksNoDescriptor) {
  SnapshotStore store;
  HttpServer taken(store, {});
  std::string err;
  ASSERT_TRUE(taken.Start("127.0.0.1:0", err)) << err;
  const std::string busy = "127.0.0.1:" + std::to_string(taken.port());
  const int before = OpenFds();
  for (int i = 0; i < 50; ++i) {
    HttpServer s(store, {});
    EXPECT_FALSE(s.Start(busy, err));
  }
  const int after = OpenFds();
  std::printf("50 failed starts (port in use): %d descriptors before, %d after\n", before, after);
  EXPECT_EQ(after, before);
}

// ---- web config: basic auth and TLS ----

std::string Bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  crypt_data data{};
  EXPECT_NE(crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof(salt)), nullptr);
  return crypt_rn(password.c_str(), salt, &data, sizeof(data));
}

TEST(WebConfigTest, ParsesAndRejectsWithPositions) {
  WebConfig w;
  std::vector<std::string> problems;
  std::string hash = Bcrypt("pw");
  ASSERT_TRUE(LoadWebConfigString("basic_auth_users:\n  alice: " + hash + "\n", "w.yml", w,
                                  problems))
      << problems[0];
  EXPECT_TRUE(w.auth());
  EXPECT_FALSE(w.tls());
  EXPECT_FALSE(LoadWebConfigString(
      "basic_auth_users:\n  bob: plaintext-secret\nhttp_server_config: {http2: true}\n"
      "tls_server_config: {cert_file: /nonexistent.pem}\n",
      "w.yml", w, problems));
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  EXPECT_THAT(all, HasSubstr("w.yml:2:8: basic_auth_users.bob: must be a bcrypt hash"));
  EXPECT_THAT(all, HasSubstr("http_server_config: unknown key"));
  EXPECT_THAT(all, HasSubstr("tls_server_config.key_file: is required"));
  EXPECT_THAT(all, HasSubstr("cannot read file /nonexistent.pem"));
  EXPECT_THAT(all, Not(HasSubstr("plaintext-secret"))) << "a pasted password is never echoed";
}

TEST(WebConfigTest, BasicAuthChecksBcryptAndRejectsEverythingElse) {
  std::map<std::string, std::string> users = {{"alice", Bcrypt("right pw:with colon")}};
  const auto basic = support::BasicAuthHeader;
  EXPECT_TRUE(CheckBasicAuth(users, basic("alice:right pw:with colon")));
  EXPECT_TRUE(CheckBasicAuth(users, "basic " + basic("alice:right pw:with colon").substr(6)));
  EXPECT_FALSE(CheckBasicAuth(users, basic("alice:wrong")));
  EXPECT_FALSE(CheckBasicAuth(users, basic("alice:")));
  EXPECT_FALSE(CheckBasicAuth(users, basic("bob:right pw:with colon")));
  EXPECT_FALSE(CheckBasicAuth(users, basic("alice")));
  EXPECT_FALSE(CheckBasicAuth(users, "Bearer abc"));
  EXPECT_FALSE(CheckBasicAuth(users, "Basic !!!!"));
  EXPECT_FALSE(CheckBasicAuth(users, ""));
  EXPECT_FALSE(CheckBasicAuth(users, "Basic " + std::string(10000, 'A')));
  std::string decoded;
  ASSERT_TRUE(Base64Decode("aGVsbG8=", decoded));
  EXPECT_EQ(decoded, "hello");
  EXPECT_FALSE(Base64Decode("aGV=sbG8", decoded));
}

// A throwaway self-signed certificate for 127.0.0.1.
void MakeCert(const TempDir& d) {
  std::string out;
  ASSERT_EQ(RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", d.File("key.pem"), "-out", d.File("cert.pem")},
                       &out),
            0)
      << out;
}

struct Curl {
  int code = -1;       // curl's exit code
  std::string status;  // HTTP status, "000" when none
  std::string body;
};
Curl RunCurl(std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "--max-time", "10",
                                   "-w", "\n%{http_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  Curl c;
  c.code = RunCommand(argv, &out, 20s);
  auto nl = out.rfind('\n');
  c.status = nl == std::string::npos ? out : out.substr(nl + 1);
  c.body = nl == std::string::npos ? "" : out.substr(0, nl);
  return c;
}

TEST_F(HardeningTest, BasicAuthWithCurlAllowedWrongPasswordAndNoCredentials) {
  WebConfig w;
  w.users = {{"prom", Bcrypt("scrape-pw")}};
  Start(w);
  std::string url = base_ + "/metrics";
  Curl ok = RunCurl({"-u", "prom:scrape-pw", url});
  EXPECT_EQ(ok.status, "200");
  EXPECT_THAT(ok.body, HasSubstr("x 1"));
  Curl wrong = RunCurl({"-u", "prom:nope", url});
  EXPECT_EQ(wrong.status, "401");
  EXPECT_THAT(wrong.body, Not(HasSubstr("x 1")));
  Curl none = RunCurl({url});
  EXPECT_EQ(none.status, "401");
  Curl unknown = RunCurl({"-u", "mallory:scrape-pw", url});
  EXPECT_EQ(unknown.status, "401");
  // Every path is behind it except the two probe paths (next test).
  for (const char* p : {"/status", "/", "/health"}) {
    EXPECT_EQ(RunCurl({base_ + p}).status, "401") << p;
    EXPECT_NE(RunCurl({"-u", "prom:scrape-pw", base_ + p}).status, "401") << p;
  }
}

// Kubernetes probes carry no credentials: /healthz and /readyz answer them (both 200 and 503, so
// a liveness probe still sees a stalled sampler) and disclose nothing; everything else stays 401,
// including look-alike and dot-segment paths that lead elsewhere.
TEST_F(HardeningTest, BasicAuthLeavesOnlyTheProbePathsOpen) {
  WebConfig w;
  w.users = {{"prom", Bcrypt("scrape-pw")}};
  Start(w);
  for (const char* p : {"/healthz", "/readyz"}) {
    Curl none = RunCurl({base_ + p});
    EXPECT_EQ(none.status, "200") << p;
    EXPECT_THAT(none.body, Not(HasSubstr("x 1"))) << p;
    EXPECT_EQ(RunCurl({"-u", "prom:wrong", base_ + p}).status, "200") << p;
    EXPECT_EQ(RunCurl({"-u", "prom:scrape-pw", base_ + p}).status, "200") << p;
  }
  healthy_ = false;
  ready_ = false;
  Curl stalled = RunCurl({base_ + "/healthz"});
  EXPECT_EQ(stalled.status, "503");
  EXPECT_EQ(stalled.body, "sampler stalled\n");
  Curl waiting = RunCurl({base_ + "/readyz"});
  EXPECT_EQ(waiting.status, "503");
  EXPECT_EQ(waiting.body, "waiting for the first sample\n");
  int open = 0;
  for (const char* p : {"/metrics", "/status", "/", "/health", "/healthz/", "/healthzz",
                        "/HEALTHZ", "/healthz/../metrics", "/readyz/%2e%2e/metrics",
                        "//metrics", "/nothing"}) {
    Curl c = RunCurl({"--path-as-is", base_ + p});
    EXPECT_EQ(c.status, "401") << p << ": " << c.body;
    EXPECT_THAT(c.body, Not(HasSubstr("x 1"))) << p;
    open += c.status != "401";
  }
  std::printf("basic auth: /healthz and /readyz open (200 and 503), %d of 11 other paths open\n",
              open);
}

// A real web config file at bcrypt's usual cost (10): a scraper pays one bcrypt, its first
// request; every wrong password pays one and gets a 401, before and after the good one is cached.
TEST_F(HardeningTest, BasicAuthFromAWebConfigFileVerifiesOncePerCredentialAndNeverCachesAWrongOne) {
  TempDir d;
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  crypt_data data{};
  ASSERT_NE(crypt_gensalt_rn("$2b$", 10, nullptr, 0, salt, sizeof(salt)), nullptr);
  const std::string hash = crypt_rn("scrape-pw", salt, &data, sizeof(data));
  WriteFile(d.File("web.yml"), "basic_auth_users:\n  prom: " + hash + "\n");
  WebConfig w;
  std::vector<std::string> problems;
  ASSERT_TRUE(LoadWebConfigFile(d.File("web.yml"), w, problems)) << problems[0];
  Start(w);
  const std::string good = "Authorization: Basic cHJvbTpzY3JhcGUtcHc=";   // prom:scrape-pw
  const std::string wrong = "Authorization: Basic cHJvbTpzY3JhcGUtcFg=";  // prom:scrape-pX
  auto& cache = BasicAuthCache::Global();
  const std::uint64_t before = cache.BcryptRuns();
  EXPECT_EQ(HttpGet(base_ + "/metrics", {wrong}).status, 401);
  for (int i = 0; i < 20; ++i) {
    auto r = HttpGet(base_ + "/metrics", {good});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "# TYPE x gauge\nx 1\n");
  }
  EXPECT_EQ(cache.BcryptRuns() - before, 2u) << "one for the wrong password, one for the good";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(HttpGet(base_ + "/metrics", {wrong}).status, 401);
  EXPECT_EQ(HttpGet(base_ + "/metrics").status, 401);
  EXPECT_EQ(HttpGet(base_ + "/metrics", {good}).status, 200);
  EXPECT_EQ(cache.BcryptRuns() - before, 5u) << "each wrong password verified, none cached";
}

TEST_F(HardeningTest, TlsWithCurlAndPlainHttpToTheTlsPortFails) {
  TempDir d;
  MakeCert(d);
  WebConfig w;
  w.cert_file = d.File("cert.pem");
  w.key_file = d.File("key.pem");
  w.users = {{"prom", Bcrypt("scrape-pw")}};
  // Debian 12's CivetWeb needs poolwatch's OpenSSL 3 compatibility objects to serve TLS at all:
  // this fails if they are not built, not found, or not enough.
  ASSERT_TRUE(HttpServer::TlsAvailable());
  Start(w);
  std::string https = "https://127.0.0.1:" + std::to_string(server_->port());
  Curl ok = RunCurl({"--cacert", d.File("cert.pem"), "-u", "prom:scrape-pw", https + "/metrics"});
  EXPECT_EQ(ok.code, 0);
  EXPECT_EQ(ok.status, "200");
  EXPECT_THAT(ok.body, HasSubstr("x 1"));
  Curl wrong = RunCurl({"--cacert", d.File("cert.pem"), "-u", "prom:bad", https + "/metrics"});
  EXPECT_EQ(wrong.status, "401");
  // Without trusting the certificate, curl refuses it (it is really our certificate being served).
  Curl untrusted = RunCurl({"-u", "prom:scrape-pw", https + "/metrics"});
  EXPECT_NE(untrusted.code, 0);
  // Plain HTTP to the TLS port never gets the metrics.
  Curl plain = RunCurl({"-u", "prom:scrape-pw", base_ + "/metrics"});
  EXPECT_NE(plain.status, "200");
  EXPECT_THAT(plain.body, Not(HasSubstr("x 1")));
  EXPECT_EQ(RunCurl({"--cacert", d.File("cert.pem"), "-u", "prom:scrape-pw", https + "/healthz"})
                .status,
            "200");
}

TEST(WebConfigBinaryTest, TheFlagTurnsOnTlsAndAuthAndABadFileExits2) {
  TempDir d;
  MakeCert(d);
  std::string target = "targets:\n  postgres:\n    - {name: a, dsn: \"host=127.0.0.1 port=1\"}\n";
  WriteFile(d.File("pw.yaml"), target);
  std::string tls = "tls_server_config:\n  cert_file: " + d.File("cert.pem") +
                    "\n  key_file: " + d.File("key.pem") + "\n";
  WriteFile(d.File("web.yml"), tls + "basic_auth_users:\n  prom: " +
                                   Bcrypt("scrape-pw") + "\n");
  WriteFile(d.File("tls.yml"), tls);
  WriteFile(d.File("bad.yml"), "basic_auth_users: [oops]\n");
  std::string out;
  EXPECT_EQ(RunCommand({support::PoolwatchBin(), "-c", d.File("pw.yaml"),
                        "--web.config.file=" + d.File("bad.yml"), "--check-config"},
                       &out),
            2);
  EXPECT_THAT(out, HasSubstr("basic_auth_users: must be a mapping"));
  int port = support::FreePort();
  support::Process pw({support::PoolwatchBin(), "-c", d.File("pw.yaml"),
                       "--web.listen-address=127.0.0.1:" + std::to_string(port),
                       "--web.config.file=" + d.File("web.yml")});
  std::string url = "https://127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(support::WaitUntil(
      [&] {
        return RunCurl({"--cacert", d.File("cert.pem"), "-u", "prom:scrape-pw", url + "/readyz"})
                   .status == "200";
      },
      15s))
      << pw.Stderr();
  EXPECT_EQ(RunCurl({"--cacert", d.File("cert.pem"), url + "/metrics"}).status, "401");
  EXPECT_EQ(RunCurl({"--cacert", d.File("cert.pem"), "-u", "prom:wrong", url + "/metrics"}).status,
            "401");
  // The real binary serves TLS only: plain HTTP to its port never gets the metrics.
  Curl plain = RunCurl({"-u", "prom:scrape-pw", "http://127.0.0.1:" + std::to_string(port) +
                                                    "/metrics"});
  EXPECT_NE(plain.status, "200");
  EXPECT_THAT(pw.Stderr(), Not(HasSubstr("scrape-pw")));
  pw.Signal(SIGTERM);
  EXPECT_EQ(pw.Wait(10s), 0);
}

}  // namespace
}  // namespace poolwatch
