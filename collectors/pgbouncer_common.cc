#include "collectors/pgbouncer_common.h"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace poolwatch {

void ExportUnknownColumns(const QueryResult& r, std::string_view command,
                          const std::function<bool(std::string_view)>& is_known, TargetSample& out,
                          int extra_unknown) {
  int unknown = extra_unknown;
  for (const auto& c : r.Columns()) {
    if (!is_known(c)) ++unknown;
  }
  out.metrics.Gauge("poolwatch_pgbouncer_unknown_columns",
                    "Columns of a SHOW command this poolwatch does not know (ignored).",
                    {{"target", out.target}, {"command", std::string(command)}}, unknown);
}

const Clock& CollectorClock(const CollectorOptions& options) {
  static const SystemClock system;
  return options.clock ? *options.clock : system;
}

std::optional<double> ParsePgbTimestamp(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  int consumed = 0;
  // The conversion count is checked and every width bounded, so sscanf cannot mislead here.
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d %2d:%2d:%2d%n",  // NOLINT(cert-err34-c)
                  &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::string zone = s.substr(static_cast<std::size_t>(consumed));
  while (!zone.empty() && std::isspace(static_cast<unsigned char>(zone.front()))) {
    zone.erase(0, 1);
  }
  std::time_t t;
  if (zone == "UTC" || zone == "GMT" || zone == "Z" || zone == "+00") {
    t = timegm(&tm);
  } else {
    tm.tm_isdst = -1;
    t = std::mktime(&tm);
  }
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<double>(t);
}

std::optional<std::string> ParsePgbVersion(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    std::string_view token = text.substr(i, j - i);
    if (!token.empty() && std::isdigit(static_cast<unsigned char>(token.front())) &&
        token.find('.') != std::string_view::npos) {
      std::size_t k = 0;
      while (k < token.size() &&
             (std::isdigit(static_cast<unsigned char>(token[k])) || token[k] == '.')) {
        ++k;
      }
      return std::string(token.substr(0, k));
    }
    i = j;
  }
  return std::nullopt;
}

}  // namespace poolwatch
