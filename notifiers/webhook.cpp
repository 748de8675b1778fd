#include "notifiers/webhook.h"

#include <algorithm>
#include <cctype>

#include "common/json_text.h"

namespace rs::notifiers {

namespace {

class WebhookNotifier : public Notifier {
 public:
  WebhookNotifier(std::string url, std::map<std::string, std::string> headers, std::string token_file,
                  std::chrono::milliseconds timeout, std::unique_ptr<rs::HttpTransport> transport)
      : url_(std::move(url)),
        headers_(std::move(headers)),
        token_file_(std::move(token_file)),
        timeout_(timeout),
        transport_(std::move(transport)) {}

  std::string type() const override { return "webhook"; }
  std::string describe() const override { return "webhook " + url_; }

  SendResult send(const Notification& n, std::chrono::milliseconds timeout) override {
    rs::HttpRequest request;
    request.method = "POST";
    request.url = url_;
    request.headers = {{"Content-Type", "application/json"}};
    for (const auto& h : headers_) request.headers.push_back(h);
    request.body = common::dump_json(n.to_json());
    request.timeout = std::min(timeout, timeout_);
    return send_http(*transport_, std::move(request), describe(), token_file_);
  }

 private:
  std::string url_;
  std::map<std::string, std::string> headers_;
  std::string token_file_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<rs::HttpTransport> transport_;
};

}  // namespace

std::unique_ptr<Notifier> make_webhook_notifier(common::PluginSettings& settings, const Environment& env) {
  std::string url = settings.string("url");
  if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    settings.error("url", "must start with http:// or https:// (got '" + url + "')");
  auto headers = settings.string_map("headers");
  for (const auto& [name, value] : headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "authorization")
      settings.error("headers", "set Authorization through bearer_token_file, so the secret stays in a file");
  }
  std::string token_file = settings.string("bearer_token_file", "");
  auto timeout = settings.duration("timeout", std::chrono::milliseconds(5000));
  if (timeout.count() <= 0) settings.error("timeout", "must be greater than 0");
  return std::make_unique<WebhookNotifier>(url, headers, token_file, timeout, env.make_transport());
}

}  // namespace rs::notifiers
