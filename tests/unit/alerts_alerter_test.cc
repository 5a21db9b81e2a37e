// The Alerter (alerts/alerter.cc) evaluated without its threads: SamplerStale.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "alerts/alerter.h"
#include "tests/support/alerts_support.h"
#include "tests/support/fakes.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using support::MakeSnapshot;

TEST(AlerterTest, SamplerStaleFiresWithoutSnapshotsAndHoldsTheRest) {
  support::FakeClock clock;
  AlertsConfig cfg = support::TestAlertsConfig();
  cfg.rules["target_down"].for_duration = 0s;
  cfg.eval_interval = 5s;  // stale after max(30s, 3 x 5s)
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(std::make_unique<support::ScriptedSink>("oncall"));
  Alerter a(cfg, clock, std::move(sinks));  // threads not started: evaluation only
  a.Evaluate(MakeSnapshot({{"pgb", false}}));
  auto states = [&] {
    std::map<std::string, std::string> out;
    for (const auto& j : a.StatusJson()) {
      out[j["labels"]["alertname"].get<std::string>()] =
          j["state"].get<std::string>() + (j["held"].get<bool>() ? "+held" : "");
    }
    return out;
  };
  EXPECT_EQ(states()["TargetDown"], "firing");
  clock.Advance(29s);
  a.Tick();
  EXPECT_EQ(states().count("SamplerStale"), 0u);
  clock.Advance(2s);
  a.Tick();
  auto s = states();
  EXPECT_EQ(s["SamplerStale"], "firing");
  EXPECT_EQ(s["TargetDown"], "firing+held") << "not resolved for lack of snapshots";
  MetricSet m;
  a.AddMetrics(m);
  EXPECT_EQ(m.Value("poolwatch_alerts", {{"alertname", "SamplerStale"}, {"state", "firing"}}), 1);
  a.Evaluate(MakeSnapshot({{"pgb", false}}));
  s = states();
  EXPECT_EQ(s.count("SamplerStale"), 0u);
  EXPECT_EQ(s["TargetDown"], "firing");
}

}  // namespace
}  // namespace poolwatch
