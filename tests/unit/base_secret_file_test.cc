// Rotated secrets: password_file and webhook_url_file replaced on disk the way the
// kubelet updates a mounted Secret (a new timestamped directory, then an atomic rename of the
// `..data` symlink), re-read without a SIGHUP; a bad new file keeps the old value.
#include "base/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "alerts/sinks.h"
#include "tests/support/alerts_support.h"
#include "tests/support/fakes.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// The kubelet's atomic writer: DIR/..<ts>/KEY, DIR/..data -> ..<ts>, DIR/KEY -> ..data/KEY.
class KubeletVolume {
 public:
  explicit KubeletVolume(std::string dir) : dir_(std::move(dir)) {}
  /// Publishes `files` (key -> contents; a value of "<dir>" makes the key a directory) as the
  /// volume's new generation, swapping ..data atomically and removing the previous generation.
  void Publish(const std::map<std::string, std::string>& files) {
    const std::string gen = "..gen" + std::to_string(++generation_);
    fs::create_directory(dir_ + "/" + gen);
    for (const auto& [key, content] : files) {
      if (content == "<dir>") {
        fs::create_directory(dir_ + "/" + gen + "/" + key);
      } else {
        support::WriteFile(dir_ + "/" + gen + "/" + key, content);
      }
      if (!fs::is_symlink(dir_ + "/" + key)) fs::create_symlink("..data/" + key, dir_ + "/" + key);
    }
    fs::create_symlink(gen, dir_ + "/..data_tmp");
    ASSERT_EQ(::rename((dir_ + "/..data_tmp").c_str(), (dir_ + "/..data").c_str()), 0);
    if (!previous_.empty()) fs::remove_all(dir_ + "/" + previous_);
    previous_ = gen;
  }
  std::string Path(const std::string& key) const { return dir_ + "/" + key; }

 private:
  std::string dir_;
  int generation_ = 0;
  std::string previous_;
};

TEST(SecretFileTest, FollowsAnAtomicSymlinkSwapAndKeepsTheOldValueOnABadFile) {
  support::TempDir d;
  KubeletVolume vol(d.path());
  vol.Publish({{"password", "first-pw\n"}});
  SecretFile f(vol.Path("password"), "first-pw", "\n\r");
  EXPECT_EQ(f.Get().value, "first-pw");
  EXPECT_EQ(f.Get().event, SecretFile::Event::kSame);

  vol.Publish({{"password", "second-pw\n"}});
  SecretFile::Result r = f.Get();
  EXPECT_EQ(r.event, SecretFile::Event::kReloaded);
  EXPECT_EQ(r.value, "second-pw");
  EXPECT_EQ(f.Get().event, SecretFile::Event::kSame) << "reported once per change";

  // Bad generations: empty, a directory, too big. Each keeps the value and is reported once.
  int rejected = 0;
  for (const std::string& bad : {std::string("\n"), std::string("<dir>"),
                                std::string(kMaxSecretFileBytes + 1, 'x')}) {
    vol.Publish({{"password", bad}});
    r = f.Get();
    EXPECT_EQ(r.event, SecretFile::Event::kRejected);
    EXPECT_EQ(r.value, "second-pw");
    EXPECT_THAT(r.error, HasSubstr(vol.Path("password")));
    EXPECT_THAT(r.error, ::testing::Not(HasSubstr("xxxx")));
    EXPECT_EQ(f.Get().event, SecretFile::Event::kSame);
    rejected += r.event == SecretFile::Event::kRejected;
  }
  // Removed altogether (a Secret key deleted): the same.
  fs::remove(vol.Path("password"));
  EXPECT_EQ(f.Get().event, SecretFile::Event::kRejected);
  EXPECT_EQ(f.Get().value, "second-pw");
  fs::create_symlink("..data/password", vol.Path("password"));
  vol.Publish({{"password", "third-pw"}});
  EXPECT_EQ(f.Get().value, "third-pw");
  EXPECT_EQ(f.reloads(), 2);
  EXPECT_EQ(f.errors(), 4);
  // Rewritten in place (same inode, new contents and mtime) is a change too.
  const std::string real = fs::canonical(vol.Path("password"));
  support::WriteFile(real, "fourth-pw-longer\n");
  EXPECT_EQ(f.Get().value, "fourth-pw-longer");
  std::printf("secret file: 3 rotations taken, %d bad generations + 1 removal kept the old value\n",
              rejected);
}

class RecordingHttp final : public HttpClient {
 public:
  HttpReply Post(const HttpRequest& req) override {
    urls.push_back(req.url);
    HttpReply r;
    r.status = 200;
    r.body = "ok";
    return r;
  }
  std::vector<std::string> urls;
};

TEST(SecretFileTest, SlackUsesTheRotatedWebhookUrlFromTheNextMessageOn) {
  support::TempDir d;
  KubeletVolume vol(d.path());
  vol.Publish({{"url", "http://127.0.0.1:1/hooks/one\n"}});
  ReceiverConfig rc = support::SlackTestConfig("http://127.0.0.1:1/hooks/one", "team");
  rc.webhook_url_file = vol.Path("url");
  RecordingHttp http;
  support::FakeClock clock;
  auto sink = MakeSink(rc, http, clock);
  Notification n;
  n.test = true;
  ASSERT_EQ(sink->Send(n).status, SendResult::Status::kDelivered);
  vol.Publish({{"url", "http://127.0.0.1:1/hooks/two\n"}});
  sink->Send(n);
  vol.Publish({{"url", "not a url\n"}});  // refused like the config check would: old URL kept
  sink->Send(n);
  ASSERT_EQ(http.urls.size(), 3u);
  EXPECT_EQ(http.urls[0], "http://127.0.0.1:1/hooks/one");
  EXPECT_EQ(http.urls[1], "http://127.0.0.1:1/hooks/two");
  EXPECT_EQ(http.urls[2], "http://127.0.0.1:1/hooks/two");
  MetricSet m;
  sink->AddMetrics(m);
  const std::string text = RenderText(m);
  EXPECT_EQ(support::MetricValue(text, "poolwatch_secret_file_reloads_total",
                                 {"owner=\"team\"", "key=\"webhook_url_file\""}),
            1)
      << text;
  EXPECT_EQ(
      support::MetricValue(text, "poolwatch_secret_file_reload_errors_total", {"owner=\"team\""}),
      1)
      << text;
}

}  // namespace
}  // namespace poolwatch
