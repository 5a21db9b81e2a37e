#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace poolwatch::support {

/// A directory removed (recursively) when the object dies, unless POOLWATCH_KEEP_TMP is set.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);
/// A TCP port free on 127.0.0.1 right now.
int FreePort();
/// An Authorization header value for HTTP basic auth: "Basic " + base64(`user_password`).
std::string BasicAuthHeader(const std::string& user_password);
/// Polls `pred` every 50ms until it is true or `timeout` passes; returns its last value.
bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout);
std::string Env(const char* name, const std::string& fallback = "");
/// The built poolwatch binary and the source tree (from ctest's environment).
std::string PoolwatchBin();
std::string SourceDir();

struct HttpResponse {
  long status = 0;  // 0 = transport failure
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  double seconds = 0;
  std::string error;
};
HttpResponse HttpGet(const std::string& url, const std::vector<std::string>& headers = {},
                     long timeout_ms = 5000);
HttpResponse HttpPost(const std::string& url, const std::string& body,
                      const std::vector<std::string>& headers = {}, long timeout_ms = 5000);

/// The value of the first sample of `name` whose label set contains every `labels` pair
/// (`{k="v"}` pairs as text, e.g. `target="main"`), parsed from an exposition body; NaN if none.
double MetricValue(const std::string& exposition, const std::string& name,
                   const std::vector<std::string>& labels = {});

/// A child process with stdout and stderr captured to files.
class Process {
 public:
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env = {});
  ~Process();
  int pid() const { return pid_; }
  void Signal(int sig);
  /// Waits for exit; returns the exit code (128+signal when killed), or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  bool Running();
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  int pid_ = -1;
  int status_ = -1;
  bool exited_ = false;
  TempDir dir_;
};

/// Runs a command to completion; returns the exit code and fills `out` with stdout+stderr.
int RunCommand(const std::vector<std::string>& argv, std::string* out = nullptr,
               std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace poolwatch::support
