// Scripted Prometheus transports for in-process tests: OneValuePrometheus answers every query
// with one sample; CountingPrometheus also answers range queries and records every query that
// reaches it (what a shared query costs the server).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
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

// Records the decoded `query` of every request it is sent, in order, and answers with one series
// whose value is `value`: an instant query a one-sample vector, a range query (/query_range) a
// matrix with a point at every step from `start` to `end`.
class CountingPrometheus : public HttpTransport {
 public:
  explicit CountingPrometheus(double value = 0.2) : value_(value) {}
  std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& requests) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<HttpResponse> out;
    for (const auto& request : requests) {
      queries_.push_back(field(request.body, "query"));
      HttpResponse r;
      r.status = 200;
      char value[64];
      std::snprintf(value, sizeof value, "%.17g", value_);
      if (request.url.size() >= 12 && request.url.compare(request.url.size() - 12, 12, "/query_range") == 0) {
        const double start = std::strtod(field(request.body, "start").c_str(), nullptr);
        const double end = std::strtod(field(request.body, "end").c_str(), nullptr);
        const double step = std::strtod(field(request.body, "step").c_str(), nullptr);
        std::string points;
        for (double t = start; step > 0 && t <= end + 1e-9; t += step) {
          char point[128];
          std::snprintf(point, sizeof point, "%s[%.3f,\"%s\"]", points.empty() ? "" : ",", t, value);
          points += point;
        }
        r.body =
            R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[)" + points + "]}]}}";
      } else {
        r.body = R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,")" +
                 std::string(value) + R"("]}]}})";
      }
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<std::string> queries() const {  // every query received, decoded, in order
    std::lock_guard<std::mutex> lock(mu_);
    return queries_;
  }
  std::map<std::string, int> counts() const {  // how often each query was received
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, int> out;
    for (const auto& q : queries_) ++out[q];
    return out;
  }

 private:
  // One form field of a POST body, percent-decoded ("" when absent).
  static std::string field(const std::string& body, const std::string& name) {
    std::size_t at = 0;
    while (at < body.size()) {
      std::size_t end = body.find('&', at);
      if (end == std::string::npos) end = body.size();
      if (body.compare(at, name.size() + 1, name + "=") == 0) {
        std::string out;
        for (std::size_t i = at + name.size() + 1; i < end; ++i) {
          if (body[i] == '%' && i + 2 < end) {
            out += static_cast<char>(std::strtol(body.substr(i + 1, 2).c_str(), nullptr, 16));
            i += 2;
          } else {
            out += body[i] == '+' ? ' ' : body[i];
          }
        }
        return out;
      }
      at = end + 1;
    }
    return "";
  }

  mutable std::mutex mu_;
  double value_;
  std::vector<std::string> queries_;
};

}  // namespace rs::fakes
