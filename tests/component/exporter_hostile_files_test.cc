// Every file poolwatch reads (-c, password_file, webhook_url_file, TLS
// key_file/cert_file, --web.config.file, alerts.state_file) when it is a FIFO, /dev/zero, a
// directory or a huge file: a clear error naming the path, exit 2 at --check-config and at start,
// the old configuration kept on reload; never a hang, an abort or gigabytes of memory.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>

#include "tests/support/stack.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using support::HttpGet;
using support::PoolwatchBin;
using support::PoolwatchProcess;
using support::RunCommand;
using support::TempDir;
using support::WaitUntil;
using support::WriteFile;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The hostile kinds, each made at `path`; returns the path to put in the config.
struct Kind {
  const char* name;
  std::function<std::string(const TempDir&, const std::string&)> make;
};

std::vector<Kind> Kinds() {
  return {
      {"fifo",
       [](const TempDir& d, const std::string& n) {
         std::string p = d.File(n + ".fifo");
         EXPECT_EQ(::mkfifo(p.c_str(), 0600), 0);
         return p;
       }},
      {"/dev/zero", [](const TempDir&, const std::string&) { return std::string("/dev/zero"); }},
      {"directory",
       [](const TempDir& d, const std::string& n) {
         std::string p = d.File(n + ".dir");
         EXPECT_EQ(::mkdir(p.c_str(), 0700), 0);
         return p;
       }},
      {"huge (300 MB, sparse)",
       [](const TempDir& d, const std::string& n) {
         std::string p = d.File(n + ".huge");
         int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
         EXPECT_GE(fd, 0);
         EXPECT_EQ(::ftruncate(fd, off_t{300} << 20), 0);
         ::close(fd);
         return p;
       }},
  };
}

std::string Base(const std::string& target_extra = "", const std::string& alerts = "") {
  return "sampling: {interval: 200ms, timeout: 100ms}\n"
         "targets:\n  postgres:\n    - name: a\n      dsn: \"host=127.0.0.1 port=1 dbname=x\"\n" +
         target_extra + alerts;
}

// What each role's config (and web config) looks like with `path` in it.
struct Role {
  const char* name;
  // Fills the main config and optional web config; returns extra argv.
  std::function<std::vector<std::string>(const TempDir&, const std::string& path)> setup;
};

std::vector<Role> Roles() {
  return {
      {"-c", [](const TempDir&, const std::string& p) {
         return std::vector<std::string>{"--config.file=" + p};
       }},
      {"password_file",
       [](const TempDir& d, const std::string& p) {
         WriteFile(d.File("pw.yaml"), Base("      password_file: " + p + "\n"));
         return std::vector<std::string>{"--config.file=" + d.File("pw.yaml")};
       }},
      {"webhook_url_file",
       [](const TempDir& d, const std::string& p) {
         WriteFile(d.File("pw.yaml"),
                   Base("", "alerts:\n  receivers: [{name: r, slack: {webhook_url_file: " + p +
                                "}}]\n"));
         return std::vector<std::string>{"--config.file=" + d.File("pw.yaml")};
       }},
      {"alerts.state_file",
       [](const TempDir& d, const std::string& p) {
         WriteFile(d.File("pw.yaml"), Base("", "alerts:\n  state_file: " + p + "\n"));
         return std::vector<std::string>{"--config.file=" + d.File("pw.yaml")};
       }},
      {"--web.config.file",
       [](const TempDir& d, const std::string& p) {
         WriteFile(d.File("pw.yaml"), Base());
         return std::vector<std::string>{"--config.file=" + d.File("pw.yaml"),
                                         "--web.config.file=" + p};
       }},
      {"tls key_file",
       [](const TempDir& d, const std::string& p) {
         WriteFile(d.File("pw.yaml"), Base());
         WriteFile(d.File("cert.pem"), "-----BEGIN CERTIFICATE-----\n");
         WriteFile(d.File("web.yml"), "tls_server_config: {cert_file: " + d.File("cert.pem") +
                                          ", key_file: " + p + "}\n");
         return std::vector<std::string>{"--config.file=" + d.File("pw.yaml"),
                                         "--web.config.file=" + d.File("web.yml")};
       }},
      {"tls cert_file",
       [](const TempDir& d, const std::string& p) {
         WriteFile(d.File("pw.yaml"), Base());
         WriteFile(d.File("key.pem"), "-----BEGIN PRIVATE KEY-----\n");
         WriteFile(d.File("web.yml"), "tls_server_config: {cert_file: " + p +
                                          ", key_file: " + d.File("key.pem") + "}\n");
         return std::vector<std::string>{"--config.file=" + d.File("pw.yaml"),
                                         "--web.config.file=" + d.File("web.yml")};
       }},
  };
}

TEST(HostileFilesTest, EveryFileKindIsAClearErrorAtCheckConfigAndAtStart) {
  double worst = 0;
  for (const Role& role : Roles()) {
    for (const Kind& kind : Kinds()) {
      for (bool check : {true, false}) {
        SCOPED_TRACE(std::string(role.name) + " = " + kind.name +
                     (check ? " (--check-config)" : " (start)"));
        TempDir d;
        std::string path = kind.make(d, "f");
        std::vector<std::string> argv = {PoolwatchBin()};
        for (auto& a : role.setup(d, path)) argv.push_back(a);
        argv.push_back(check ? "--check-config" : "--web.listen-address=127.0.0.1:0");
        std::string out;
        auto t0 = std::chrono::steady_clock::now();
        int rc = RunCommand(argv, &out, 10s);
        double s = Since(t0);
        worst = std::max(worst, s);
        EXPECT_EQ(rc, 2) << out;
        EXPECT_THAT(out, HasSubstr("cannot read file " + path));
        EXPECT_LT(s, 5.0) << "a correctness deadline: an error, never a hang";
        std::printf("%-18s %-22s %-15s exit %d in %.3f s\n", role.name, kind.name,
                    check ? "--check-config" : "start", rc, s);
      }
    }
  }
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  std::printf("slowest error %.3f s; largest child max RSS %ld KiB\n", worst, ru.ru_maxrss);
  EXPECT_LT(ru.ru_maxrss, 200 * 1024) << "no file was read into memory";
}

// A running daemon given a hostile file on reload keeps its configuration, keeps serving, and
// still stops promptly on SIGTERM (the signal thread never blocks on a FIFO).
TEST(HostileFilesTest, ReloadKeepsTheRunningConfigAndSigtermStillWorks) {
  TempDir d;
  WriteFile(d.File("url"), "http://127.0.0.1:1/hook\n");
  const std::string good =
      Base("", "alerts:\n  receivers: [{name: r, slack: {webhook_url_file: " + d.File("url") +
                   "}}]\n");
  PoolwatchProcess pw(good);
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  int reloads = 0;
  for (const Kind& kind : Kinds()) {
    SCOPED_TRACE(kind.name);
    std::string path = kind.make(d, "reload");
    WriteFile(pw.config_path(),
              Base("", "alerts:\n  receivers: [{name: r, slack: {webhook_url_file: " + path +
                           "}}]\n"));
    auto t0 = std::chrono::steady_clock::now();
    pw.process().Signal(SIGHUP);
    ++reloads;
    ASSERT_TRUE(WaitUntil(
        [&] {
          std::string m = pw.Metrics();
          return support::MetricValue(m, "poolwatch_config_reload_failures_total") == reloads;
        },
        5s))
        << pw.Logs();
    std::printf("reload with webhook_url_file = %-22s refused in %.3f s\n", kind.name, Since(t0));
    EXPECT_THAT(pw.Logs(), HasSubstr("cannot read file " + path));
    EXPECT_EQ(HttpGet(pw.Url("/healthz")).status, 200);
  }
  EXPECT_TRUE(pw.process().Running());
  auto t0 = std::chrono::steady_clock::now();
  pw.process().Signal(SIGTERM);
  EXPECT_EQ(pw.process().Wait(5s), 0);
  std::printf("SIGTERM after the refused reloads: exited in %.3f s\n", Since(t0));
}

}  // namespace
}  // namespace poolwatch
