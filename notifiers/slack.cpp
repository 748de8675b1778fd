#include "notifiers/slack.h"

#include "common/json_text.h"
#include "common/secret_file.h"

namespace rs::notifiers {

namespace {

class SlackNotifier : public Notifier {
 public:
  SlackNotifier(std::string url_file, std::string channel, std::string username, std::chrono::milliseconds timeout,
                std::unique_ptr<rs::HttpTransport> transport)
      : url_file_(std::move(url_file)),
        channel_(std::move(channel)),
        username_(std::move(username)),
        timeout_(timeout),
        transport_(std::move(transport)) {}

  std::string type() const override { return "slack"; }
  std::string describe() const override {
    return "slack (webhook URL from " + url_file_ + ")" + (channel_.empty() ? "" : " " + channel_);
  }

  SendResult send(const Notification& n, std::chrono::milliseconds timeout) override {
    std::string url, error;
    if (!common::read_secret_file(url_file_, "slack webhook URL", &url, &error))
      return SendResult::failure(describe() + ": " + error, true);
    rs::HttpRequest request;
    request.method = "POST";
    request.url = url;
    request.headers = {{"Content-Type", "application/json"}};
    request.body = common::dump_json(slack_message(n, channel_, username_));
    request.timeout = std::min(timeout, timeout_);
    return send_http(*transport_, std::move(request), describe(), "", url);
  }

 private:
  std::string url_file_, channel_, username_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<rs::HttpTransport> transport_;
};

}  // namespace

nlohmann::json slack_message(const Notification& n, const std::string& channel, const std::string& username) {
  const char* emoji = n.message == "RollbackFailed"      ? ":rotating_light:"
                      : n.message == "RollbackSucceeded" ? ":white_check_mark:"
                                                         : ":warning:";
  nlohmann::json body = {{"text", std::string(emoji) + " *" + n.title() + "*\n```" + n.text() + "```"}};
  if (!channel.empty()) body["channel"] = channel;
  if (!username.empty()) body["username"] = username;
  return body;
}

std::unique_ptr<Notifier> make_slack_notifier(common::PluginSettings& settings, const Environment& env) {
  if (settings.has("url")) {
    settings.string("url", "");  // consumed, so the only error is this one
    settings.error("url",
                   "put the webhook URL in a file and set url_file: the URL is a secret and must not be in the config");
  }
  std::string url_file = settings.string("url_file");
  std::string channel = settings.string("channel", "");
  std::string username = settings.string("username", "");
  auto timeout = settings.duration("timeout", std::chrono::milliseconds(5000));
  if (timeout.count() <= 0) settings.error("timeout", "must be greater than 0");
  return std::make_unique<SlackNotifier>(url_file, channel, username, timeout, env.make_transport());
}

}  // namespace rs::notifiers
