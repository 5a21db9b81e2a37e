// The HTTP server under attack. 300 slowloris connections, 50 busy
// keep-alive clients, 16 POSTs trickling a huge body and 2,000 idle connections, one at a time
// and together: a separate client still gets /healthz and /metrics, promptly (p99 printed; the
// assertion is a correctness deadline: answered within 1 s, not never). Plus the framing cases:
// duplicate differing Content-Length, CL+TE, absolute-form URIs and OPTIONS *.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "exporter/http_server.h"
#include "tests/support/raw_socket.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using support::ConnectLoopback;
using support::HttpGet;
using support::ReadAll;
using support::SendAll;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

class HttpAttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    auto snap = std::make_shared<Snapshot>();
    std::string text;
    for (int i = 0; i < 2000; ++i) {
      text += "pgbouncer_pools_client_active_connections{database=\"db" + std::to_string(i) +
              "\",user=\"app\"} 1\n";
    }
    snap->exposition = Expose(std::move(text));
    store_.Publish(snap);
    HttpState st;
    st.healthy = [] { return true; };
    st.ready = [] { return true; };
    server_ = std::make_unique<HttpServer>(store_, st);
    std::string err;
    ASSERT_TRUE(server_->Start("127.0.0.1:0", err)) << err;
    port_ = server_->port();
  }
  void TearDown() override {
    stop_ = true;
    for (auto& t : attackers_) t.join();
    for (int fd : fds_) ::close(fd);
    server_->Stop();
  }

  void Slowloris(int n) {
    attackers_.emplace_back([this, n] {
      std::vector<int> fds;
      for (int i = 0; i < n; ++i) fds.push_back(ConnectLoopback(port_));
      while (!stop_) {
        for (int& fd : fds) {
          if (fd < 0 || ::send(fd, "X", 1, MSG_NOSIGNAL) <= 0) {
            if (fd >= 0) ::close(fd);
            fd = ConnectLoopback(port_);  // cut off: come back, as an attacker would
            if (fd >= 0) SendAll(fd, "GET /metrics HTTP/1.1\r\nX-Slow: ");
          }
        }
        std::this_thread::sleep_for(500ms);
      }
      for (int fd : fds) ::close(fd);
    });
  }
  void BusyKeepAlive(int n) {
    for (int i = 0; i < n; ++i) {
      attackers_.emplace_back([this] {
        int fd = ConnectLoopback(port_);
        const std::string get = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
        char buf[65536];
        while (!stop_) {
          if (fd < 0) {
            fd = ConnectLoopback(port_);
            continue;
          }
          SendAll(fd, get);
          // Read the reply (headers + Content-Length body).
          std::string in;
          std::size_t need = std::string::npos;
          while (!stop_) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0) continue;
            ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
            if (r <= 0) {
              ::close(fd);
              fd = -1;
              break;
            }
            in.append(buf, static_cast<std::size_t>(r));
            auto he = in.find("\r\n\r\n");
            if (need == std::string::npos && he != std::string::npos) {
              auto cl = in.find("Content-Length: ");
              need = he + 4 + std::stoul(in.substr(cl + 16));
            }
            if (need != std::string::npos && in.size() >= need) break;
          }
        }
        if (fd >= 0) ::close(fd);
      });
    }
  }
  void TricklingPosts(int n) {
    attackers_.emplace_back([this, n] {
      std::vector<int> fds(n, -1);
      while (!stop_) {
        for (int& fd : fds) {
          if (fd < 0) {
            fd = ConnectLoopback(port_);
            if (fd >= 0) {
              SendAll(fd, "POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000\r\n\r\n");
            }
            continue;
          }
          if (::send(fd, "zzzzzzzzzz", 10, MSG_NOSIGNAL) <= 0) {  // 10 B/s each
            ::close(fd);
            fd = -1;
          }
        }
        std::this_thread::sleep_for(1s);
      }
      for (int fd : fds) ::close(fd);
    });
  }
  void Idle(int n) {
    for (int i = 0; i < n; ++i) {
      int fd = ConnectLoopback(port_);
      if (fd >= 0) fds_.push_back(fd);
    }
    // Keep-alive idlers: each made one request, then sits.
    for (std::size_t i = 0; i < fds_.size(); i += 2) {
      SendAll(fds_[i], "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    }
  }

  // A separate client: /healthz and /metrics, alternately, for `seconds`. Returns latencies.
  std::vector<double> Probe(double seconds, int* failures) {
    std::vector<double> lat;
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    const std::string base = "http://127.0.0.1:" + std::to_string(port_);
    bool metrics = false;
    while (std::chrono::steady_clock::now() < end) {
      auto r = HttpGet(base + (metrics ? "/metrics" : "/healthz"), {}, 1000);
      if (r.status != 200) ++*failures;
      lat.push_back(r.status == 200 ? r.seconds : 1.0);
      metrics = !metrics;
      std::this_thread::sleep_for(20ms);
    }
    return lat;
  }

  void Report(const char* what, std::vector<double> lat, int failures) {
    std::sort(lat.begin(), lat.end());
    double p50 = lat[lat.size() / 2];
    double p99 = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
    std::printf("%-44s probe requests %zu, failed %d, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
                what, lat.size(), failures, p50 * 1000, p99 * 1000, lat.back() * 1000);
    EXPECT_EQ(failures, 0) << what << ": every probe answered 200 within 1 s";
  }

  SnapshotStore store_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> attackers_;
  std::vector<int> fds_;
};

TEST_F(HttpAttackTest, ThreeHundredSlowlorisConnections) {
  Slowloris(300);
  std::this_thread::sleep_for(500ms);
  int f = 0;
  std::vector<double> lat = Probe(5, &f);
  Report("300 slowloris", lat, f);
}

TEST_F(HttpAttackTest, FiftyBusyKeepAliveClients) {
  BusyKeepAlive(50);
  std::this_thread::sleep_for(500ms);
  int f = 0;
  std::vector<double> lat = Probe(5, &f);
  Report("50 busy keep-alive clients", lat, f);
}

TEST_F(HttpAttackTest, SixteenTricklingPosts) {
  TricklingPosts(16);
  std::this_thread::sleep_for(500ms);
  int f = 0;
  std::vector<double> lat = Probe(5, &f);
  Report("16 trickling POSTs (10 B/s, CL 1e9)", lat, f);
}

TEST_F(HttpAttackTest, TwoThousandIdleConnections) {
  Idle(2000);
  std::printf("idle connections opened: %zu\n", fds_.size());
  EXPECT_GE(fds_.size(), 2000u);
  int f = 0;
  std::vector<double> lat = Probe(5, &f);
  Report("2,000 idle connections", lat, f);
}

TEST_F(HttpAttackTest, AllAtOnce) {
  Idle(2000);
  Slowloris(300);
  BusyKeepAlive(50);
  TricklingPosts(16);
  std::this_thread::sleep_for(500ms);
  int f = 0;
  std::vector<double> lat = Probe(10, &f);
  Report("all together", lat, f);
}

TEST_F(HttpAttackTest, FramingAttacksAreRefusedOrAnswered) {
  auto exchange = [&](const std::string& req) {
    int fd = ConnectLoopback(port_);
    SendAll(fd, req);
    std::string out = ReadAll(fd, 3s);
    ::close(fd);
    return out;
  };
  // Duplicate, differing Content-Length: refused; the "body" is never served as a request.
  std::string r = exchange("GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
                           "Content-Length: 36\r\n\r\nGET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 400"));
  EXPECT_EQ(r.find("HTTP/1.1 200"), std::string::npos) << r;
  EXPECT_THAT(r, HasSubstr("Connection: close"));
  // Content-Length with Transfer-Encoding: refused and closed.
  r = exchange("GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
               "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(r, HasSubstr("Connection: close"));
  // Absolute-form target: answered like the origin form.
  r = exchange("GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(r, HasSubstr("\r\n\r\nok\n"));
  // OPTIONS *: answered, with what the server allows.
  r = exchange("OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(r, HasSubstr("Allow: GET, HEAD"));
  // A POST with a body nobody reads: answered at once and closed, the body never drained.
  auto t0 = std::chrono::steady_clock::now();
  r = exchange("POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000\r\n\r\nzz");
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_THAT(r, StartsWith("HTTP/1.1 405"));
  std::printf("POST with Content-Length 1e9: answered and closed in %.3f s\n", s);
  EXPECT_LT(s, 1.0);
}

}  // namespace
}  // namespace poolwatch
