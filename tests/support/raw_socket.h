#pragma once

#include <chrono>
#include <string>

namespace poolwatch::support {

/// Raw TCP to a server on 127.0.0.1, for the HTTP tests that send what no client library would
/// (malformed request lines, trickled bodies, thousands of idle connections).

/// A blocking socket connected to 127.0.0.1:`port`, or -1. The caller closes it.
int ConnectLoopback(int port);
/// Sends all of `s`, stopping quietly when the peer has gone (no SIGPIPE).
void SendAll(int fd, const std::string& s);
/// Everything the peer sends until it closes or `timeout` passes, polling every `poll_slice`.
std::string ReadAll(int fd, std::chrono::milliseconds timeout,
                    std::chrono::milliseconds poll_slice = std::chrono::milliseconds(50));

}  // namespace poolwatch::support
