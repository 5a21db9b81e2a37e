#include "tests/support/alertmanager.h"

#include <signal.h>

namespace poolwatch::support {

using namespace std::chrono_literals;

Alertmanager::Alertmanager(int port) : port_(port) {
  WriteFile(dir_.File("am.yml"),
            "route:\n"
            "  receiver: nobody\n"
            "  group_wait: 1s\n"
            "receivers:\n"
            "  - name: nobody\n");
}

Alertmanager::~Alertmanager() { Stop(); }

void Alertmanager::Start() {
  Stop();
  proc_ = std::make_unique<Process>(std::vector<std::string>{
      "/usr/bin/prometheus-alertmanager", "--config.file=" + dir_.File("am.yml"),
      "--storage.path=" + dir_.File("data"),
      "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--cluster.listen-address="});
}

void Alertmanager::Stop() {
  if (!proc_) return;
  proc_->Signal(SIGTERM);
  if (proc_->Wait(10s) < 0) {
    proc_->Signal(SIGKILL);
    proc_->Wait(5s);
  }
  proc_.reset();
}

bool Alertmanager::WaitReady() {
  return WaitUntil([&] { return HttpGet(Url() + "/-/ready").status == 200; }, 20s);
}

std::string Alertmanager::Alerts() const {
  HttpResponse r = HttpGet(Url() + "/api/v2/alerts");
  return r.status == 200 ? r.body : "";
}

}  // namespace poolwatch::support
