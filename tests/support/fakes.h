#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/clock.h"
#include "collectors/connection.h"

namespace poolwatch::support {

/// A settable clock for state machines and pools.
class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() const override {
    std::lock_guard<std::mutex> l(m_);
    return steady_;
  }
  std::chrono::system_clock::time_point WallNow() const override {
    std::lock_guard<std::mutex> l(m_);
    return wall_;
  }
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> l(m_);
    steady_ += d;
    wall_ += d;
  }

 private:
  mutable std::mutex m_;
  std::chrono::steady_clock::time_point steady_ = std::chrono::steady_clock::now();
  std::chrono::system_clock::time_point wall_ =
      std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
};

/// Answers queries from a script: the first entry whose key is a prefix of the query wins.
/// A handler may throw DbError or sleep (to play a slow or hung server).
class FakeConnection final : public Connection {
 public:
  using Handler = std::function<QueryResult(std::string_view sql)>;
  explicit FakeConnection(std::map<std::string, Handler> script, int pid = 4242)
      : script_(std::move(script)), pid_(pid) {}

  QueryResult Query(std::string_view sql) override {
    ++queries;
    if (aborted_) throw DbError("aborted", DownReason::kOther, "", true);
    for (const auto& [prefix, h] : script_) {
      if (sql.substr(0, prefix.size()) == prefix) {
        try {
          return h(sql);
        } catch (const DbError& e) {
          if (e.connection_lost()) healthy_ = false;
          throw;
        }
      }
    }
    throw DbError("fake: no script for query", DownReason::kOther, "42601", false);
  }
  void SetDeadline(SteadyTime d) override { deadline = d; }
  bool Healthy() const override { return healthy_ && !aborted_; }
  int BackendPid() const override { return pid_; }
  int ServerVersion() const override { return 150000; }
  void Abort() override { aborted_ = true; }

  std::atomic<int> queries{0};
  SteadyTime deadline{};

 private:
  std::map<std::string, Handler> script_;
  int pid_;
  std::atomic<bool> healthy_{true};
  std::atomic<bool> aborted_{false};
};

/// Builds a QueryResult from a column list and rows of text cells ("\\N" = NULL).
inline QueryResult Rows(std::vector<std::string> cols, std::vector<std::vector<std::string>> rows) {
  std::vector<std::vector<std::optional<std::string>>> cells;
  for (auto& r : rows) {
    std::vector<std::optional<std::string>> row;
    for (auto& c : r) {
      if (c == "\\N") {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(c);
      }
    }
    cells.push_back(std::move(row));
  }
  return QueryResult(std::move(cols), std::move(cells));
}

}  // namespace poolwatch::support
