// The alert rules read metric families by name: each must be declared once in the family table
// (collectors/metric_families.cc) with the labels the rules select on, so a renamed family or a
// dropped label fails here instead of silently never alerting.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "alerts/rules.h"
#include "collectors/metrics.h"

namespace poolwatch {
namespace {

struct RuleFamily {
  const char* name;
  std::vector<std::string> labels;  // the labels EvaluateRules reads from its series
};

TEST(AlertRuleFamiliesTest, EveryFamilyARuleReadsIsDeclaredWithTheLabelsItSelectsOn) {
  const std::vector<RuleFamily> read = {
      {rule_metrics::kUtilization, {"target", "kind", "database", "user"}},
      {rule_metrics::kErrorRatio, {"target", "kind"}},
      {rule_metrics::kErrorEvents, {"target", "kind"}},
      {rule_metrics::kLeaks, {"target", "kind"}},
      {rule_metrics::kOldestTx, {"target", "datname"}},
      {rule_metrics::kMaxwaitPeak, {"target", "database", "user"}},
      {rule_metrics::kMaxwait, {"target", "database", "user"}},
  };
  for (const auto& r : read) {
    const FamilyDesc* d = FindFamily(r.name);
    ASSERT_NE(d, nullptr) << r.name << " is read by a rule but not in MetricFamilies()";
    EXPECT_EQ(d->type, prometheus::MetricType::Gauge) << r.name;
    for (const auto& l : r.labels) {
      EXPECT_THAT(d->labels, ::testing::Contains(l)) << r.name << " lacks label " << l;
    }
  }
}

}  // namespace
}  // namespace poolwatch
