// A scripted HTTP transport for unit tests: answers by URL, and refuses (connection refused)
// any URL it was not given, so an unexpected request shows up as a failure, not a silent 200.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/http/http_transport.h"

namespace rs::fakes {

class UrlTransport : public HttpTransport {
 public:
  std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& requests) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<HttpResponse> out;
    for (const auto& r : requests) {
      urls_.push_back(r.url);
      auto it = by_url_.find(r.url);
      if (it != by_url_.end()) {
        out.push_back(it->second);
      } else {
        HttpResponse refused;
        refused.error = TransportError::kConnect;
        refused.error_message = "connection refused";
        out.push_back(refused);
      }
    }
    return out;
  }
  void answer(const std::string& url, long status, const std::string& body = "") {
    std::lock_guard<std::mutex> lock(mu_);
    by_url_[url].status = status;
    by_url_[url].body = body;
  }
  void forget_all() {
    std::lock_guard<std::mutex> lock(mu_);
    by_url_.clear();
  }
  std::vector<std::string> urls() const {  // every URL requested, in order
    std::lock_guard<std::mutex> lock(mu_);
    return urls_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, HttpResponse> by_url_;
  std::vector<std::string> urls_;
};

}  // namespace rs::fakes
