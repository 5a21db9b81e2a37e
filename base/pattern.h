#pragma once

#include <string>
#include <string_view>
#include <vector>

// The one pattern language of every exclude and allow list in the configuration
// (long_transactions.exclude_application_names, activity_breakdown.allow, the alert rules'
// exclude_databases and exclude_applications): a glob where `*` matches any run of bytes
// (also none) and `?` exactly one byte; everything else matches itself, case-sensitively; the
// whole name must match ("report*" is a prefix, "*-job" a suffix, "app" only "app").
namespace poolwatch {

bool GlobMatch(std::string_view pattern, std::string_view text);
/// Whether any of `patterns` matches `name` (false for an empty list).
bool MatchesAny(std::string_view name, const std::vector<std::string>& patterns);

}  // namespace poolwatch
