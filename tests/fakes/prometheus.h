// A scripted Prometheus for in-process engine tests: every query gets a one-sample vector with
// `value` (settable between evaluations).
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "common/http/http_transport.h"

namespace rs::fakes {

class OneValuePrometheus : public HttpTransport {
 public:
  explicit OneValuePrometheus(std::string value = "0.2") : value_(std::move(value)) {}
  std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& requests) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<HttpResponse> out;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      HttpResponse r;
      r.status = 200;
      r.body = R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,")" + value_ +
               R"("]}]}})";
      out.push_back(r);
    }
    return out;
  }
  void set_value(std::string value) {
    std::lock_guard<std::mutex> lock(mu_);
    value_ = std::move(value);
  }

 private:
  std::mutex mu_;
  std::string value_;
};

}  // namespace rs::fakes
