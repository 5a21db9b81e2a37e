#include "base/pattern.h"

namespace poolwatch {

bool GlobMatch(std::string_view p, std::string_view t) {
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool MatchesAny(std::string_view name, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    if (GlobMatch(p, name)) return true;
  }
  return false;
}

}  // namespace poolwatch
