// An HttpTransport for notifier tests: records every request and answers with scripted
// responses (the last one repeats). The log is shared, so a test keeps a handle on it after the
// transport has been moved into a notifier.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/http/http_transport.h"

namespace rs::testing {

struct TransportLog {
  std::mutex mu;
  std::vector<rs::HttpRequest> requests;
  std::vector<rs::HttpResponse> script{ok_response()};

  static rs::HttpResponse ok_response(long status = 200, std::string body = "") {
    rs::HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static rs::HttpResponse transport_error(rs::TransportError e, std::string message) {
    rs::HttpResponse r;
    r.error = e;
    r.error_message = std::move(message);
    return r;
  }

  std::vector<rs::HttpRequest> sent() {
    std::lock_guard<std::mutex> lock(mu);
    return requests;
  }
};

// The value of header `name` in `request` (exact name), "" when absent; `count` how many.
inline std::string header(const rs::HttpRequest& request, const std::string& name, int* count = nullptr) {
  std::string value;
  int n = 0;
  for (const auto& [k, v] : request.headers) {
    if (k == name) {
      value = v;
      ++n;
    }
  }
  if (count) *count = n;
  return value;
}

class FakeTransport : public rs::HttpTransport {
 public:
  explicit FakeTransport(std::shared_ptr<TransportLog> log) : log_(std::move(log)) {}
  std::vector<rs::HttpResponse> perform_all(const std::vector<rs::HttpRequest>& requests) override {
    std::lock_guard<std::mutex> lock(log_->mu);
    std::vector<rs::HttpResponse> out;
    for (const auto& r : requests) {
      log_->requests.push_back(r);
      const std::size_t i = std::min(log_->requests.size(), log_->script.size()) - 1;
      out.push_back(log_->script[i]);
    }
    return out;
  }

 private:
  std::shared_ptr<TransportLog> log_;
};

}  // namespace rs::testing
