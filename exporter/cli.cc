#include "exporter/cli.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "alerts/alerter.h"
#include "alerts/health.h"
#include "base/redact.h"
#include "exporter/app.h"
#include "exporter/logging.h"
#include "exporter/process_metrics.h"
#include "exporter/status_json.h"
#include "exporter/version.h"
#include "exporter/web_config.h"

namespace poolwatch {

std::string UsageText() {
  return R"(usage: poolwatch [flags]

Watches PostgreSQL and PgBouncer connection pools, exports Prometheus metrics and alerts.

  -c, --config.file=PATH        YAML configuration (env POOLWATCH_CONFIG)
      --check-config            validate the configuration and exit (0 ok, 2 problems)
      --once                    sample every target once, print, exit (0 all up, 1 otherwise)
      --send-test-alert         send one test notification to every alert receiver, print each
                                result, exit (0 all delivered, 1 otherwise, 2 no receivers)
      --output=text|json|prometheus   format for --once (default text)
      --web.listen-address=ADDR overrides web.listen_address (default ":9930")
      --web.config.file=PATH    TLS and basic auth for the HTTP endpoints (tls_server_config,
                                basic_auth_users with bcrypt hashes)
      --log.level=debug|info|warn|error (default info)
      --log.format=text|json    (default text)
      --version                 print version and exit
  -h, --help                    this text

Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.
Signals: SIGHUP reloads the configuration; SIGTERM/SIGINT stop within 5 seconds, plus up to
alerts.shutdown_grace (5s) while queued notifications are still being delivered.
)";
}

bool ParseCli(const std::vector<std::string>& args, CliOptions& out, std::string& error) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in poolwatch calls setenv
  if (const char* env = std::getenv("POOLWATCH_CONFIG")) out.config_file = env;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool has_value = false;
    auto eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    auto take = [&](std::string& dst) {
      if (has_value) {
        dst = value;
        return true;
      }
      if (i + 1 >= args.size()) {
        error = "flag " + a + " needs a value";
        return false;
      }
      dst = args[++i];
      return true;
    };
    auto no_value = [&]() {
      if (has_value) {
        error = "flag " + a + " takes no value";
        return false;
      }
      return true;
    };
    if (a == "-c" || a == "--config.file") {
      if (!take(out.config_file)) return false;
    } else if (a == "--web.listen-address") {
      if (!take(out.listen_address)) return false;
    } else if (a == "--web.config.file") {
      if (!take(out.web_config_file)) return false;
    } else if (a == "--log.level") {
      if (!take(out.log_level)) return false;
    } else if (a == "--log.format") {
      if (!take(out.log_format)) return false;
    } else if (a == "--output") {
      if (!take(out.output)) return false;
      if (out.output != "text" && out.output != "json" && out.output != "prometheus") {
        error = "--output must be text, json or prometheus";
        return false;
      }
    } else if (a == "--check-config") {
      if (!no_value()) return false;
      out.check_config = true;
    } else if (a == "--once") {
      if (!no_value()) return false;
      out.once = true;
    } else if (a == "--send-test-alert") {
      if (!no_value()) return false;
      out.send_test_alert = true;
    } else if (a == "--version") {
      out.version = true;
    } else if (a == "-h" || a == "--help") {
      out.help = true;
    } else {
      error = "unknown flag " + args[i];
      return false;
    }
  }
  if (!out.help && !out.version && out.config_file.empty()) {
    error = "no configuration: pass --config.file=PATH or set POOLWATCH_CONFIG";
    return false;
  }
  return true;
}

namespace {

int RunOnce(const Config& loaded, const std::string& output) {
  SystemClock clock;
  // A one-shot look is no fleet member: it samples a shared target whoever holds its election.
  Config config = loaded;
  for (auto& t : config.targets) t.shared = false;
  // The same reference families /metrics serves, so a one-shot exposition counts the same series,
  // and the same health levels a running poolwatch publishes.
  Sampler sampler(
      config, clock, ConnectTarget,
      [&config](Snapshot& s) {
        AddOsProcessMetrics(s.metrics);
        AddExporterHealthMetrics(s.targets, s.metrics);
        AnnotateHealth(s, config.alerts);
      },
      nullptr);
  auto snap = sampler.SampleOnce();
  sampler.Stop();
  // The sample just completed: the sampler is fresh by definition.
  const OverallHealth health = JudgeOverallHealth(snap.get(), /*sampler_fresh=*/true);
  if (output == "json") {
    nlohmann::json j = StatusJson(*snap);
    j["health"] = health.Json();
    std::cout << DumpJson(j, 2) << "\n";
  } else if (output == "prometheus") {
    if (snap->exposition) std::cout << snap->exposition->text;
  } else {
    std::cout << StatusText(*snap) << "health: " << health.level
              << (health.reason.empty() ? "" : " (" + health.reason + ")") << "\n";
  }
  for (const auto& t : snap->targets) {
    if (!t.up) return 1;
  }
  return 0;
}

int SendTestAlert(const Config& config) {
  if (config.alerts.receivers.empty()) {
    std::cerr << "poolwatch: no alert receivers configured (alerts.receivers)\n";
    return 2;
  }
  SystemClock clock;
  CurlHttpClient http;
  bool all = true;
  for (const auto& [name, r] : SendTestAlerts(config.alerts, clock, http)) {
    const char* status = r.status == SendResult::Status::kDelivered ? "delivered"
                         : r.status == SendResult::Status::kRetryable ? "FAILED (retryable)"
                                                                       : "FAILED (permanent)";
    all = all && r.status == SendResult::Status::kDelivered;
    // The detail never holds the webhook URL; redact anyway, as a last line of defence.
    std::cout << "receiver " << name << ": " << status << ": "
              << RedactSecrets(r.detail, config.Secrets()) << "\n";
  }
  return all ? 0 : 1;
}

int Serve(Config config, const std::string& config_path, WebConfig web,
          const std::string& listen_override) {
  // Signals are taken on this thread with sigwait, never in handlers: block them before any
  // other thread starts so every thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  SystemClock clock;
  App app(std::move(config), clock);
  app.SetWebConfig(std::move(web));
  app.SetListenAddressOverride(listen_override);
  std::string error;
  if (!app.Start(error)) {
    spdlog::error("{}", error);
    return 1;
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      // Coalesce a burst (a config manager sending one per file, a loop gone wrong): further
      // SIGHUPs within kReloadSettle fold into this reload; SIGTERM/SIGINT still stop at once.
      // A steady storm still reloads at least once a second.
      constexpr long kReloadSettleMs = 250;
      const auto fold_until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      int folded = 0;
      timespec settle{0, kReloadSettleMs * 1000 * 1000};
      siginfo_t info{};
      int next = 0;
      while (std::chrono::steady_clock::now() < fold_until &&
             (next = sigtimedwait(&set, &info, &settle)) == SIGHUP) {
        ++folded;
      }
      if (next == SIGTERM || next == SIGINT) {
        sig = next;
      } else {
        spdlog::info("SIGHUP: reloading {}{}", config_path,
                     folded > 0 ? " (" + std::to_string(folded) + " more SIGHUP folded in)" : "");
        app.Reload(config_path);
        continue;
      }
    }
    spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    app.Stop();
    spdlog::info("stopped");
    return 0;
  }
}

}  // namespace

int RunPoolwatch(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  CliOptions opts;
  std::string error;
  if (!ParseCli(args, opts, error)) {
    std::cerr << "poolwatch: " << error << "\n\n" << UsageText();
    return 2;
  }
  if (opts.help) {
    std::cout << UsageText();
    return 0;
  }
  if (opts.version) {
    std::cout << "poolwatch " << POOLWATCH_VERSION << " (revision " << POOLWATCH_REVISION << ")\n";
    return 0;
  }
  if (!SetupLogging(opts.log_level, opts.log_format, error)) {
    std::cerr << "poolwatch: " << error << "\n";
    return 2;
  }
  Config config;
  ConfigError errors;
  if (!LoadConfigFile(opts.config_file, config, errors)) {
    for (const auto& p : errors.problems) std::cerr << p << "\n";
    std::cerr << "poolwatch: configuration has " << errors.problems.size() << " problem(s)\n";
    return 2;
  }
  if (!opts.listen_address.empty()) config.listen_address = opts.listen_address;
  WebConfig web;
  if (!opts.web_config_file.empty()) {
    std::vector<std::string> web_problems;
    if (!LoadWebConfigFile(opts.web_config_file, web, web_problems)) {
      for (const auto& p : web_problems) std::cerr << p << "\n";
      std::cerr << "poolwatch: web config has " << web_problems.size() << " problem(s)\n";
      return 2;
    }
  }
  if (opts.check_config) {
    std::cout << opts.config_file << ": ok (" << config.targets.size() << " target(s))\n";
    return 0;
  }
  if (opts.once) return RunOnce(config, opts.output);
  if (opts.send_test_alert) return SendTestAlert(config);
  return Serve(std::move(config), opts.config_file, std::move(web), opts.listen_address);
}

}  // namespace poolwatch
