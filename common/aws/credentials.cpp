#include "common/aws/credentials.h"

#include <nlohmann/json.hpp>
#include <tinyxml2.h>

#include <cstdlib>
#include <map>
#include <sstream>

#include "common/aws/aws_client.h"
#include "common/clock.h"
#include "common/read_file.h"
#include "common/secret_file.h"
#include "common/utf8.h"

namespace rs::aws {
namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string snippet(std::string text, const std::string& secret = "") {
  rs::common::redact(&text, secret);
  text = rs::common::cut_utf8_prefix(text, 300);  // never half a character
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

// [section] → key → value of an INI file. False with *error when the file cannot be read, and
// *missing when it does not exist (not configured). Capped: /dev/zero or a FIFO is an error, not
// a hang or bad_alloc.
using Ini = std::map<std::string, std::map<std::string, std::string>>;
bool read_ini(const std::string& path, Ini* out, std::string* error, bool* missing) {
  std::optional<std::string> text =
      rs::common::read_regular_file(path, rs::common::kMaxConfigFileBytes, error, missing);
  if (!text) return false;
  std::istringstream in(*text);
  std::string line, section;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      (*out)[section];
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos || section.empty()) continue;
    (*out)[section][trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return true;
}

}  // namespace

std::string Credentials::describe() const {
  std::string suffix = access_key_id.size() > 4 ? access_key_id.substr(access_key_id.size() - 4) : "";
  return source + " (key ..." + suffix + ")";
}

void redact(std::string* text, const Credentials& c) {
  rs::common::redact(text, c.secret_access_key);
  rs::common::redact(text, c.session_token);
}

namespace {
// AWS's Expiration ("2024-05-01T12:00:00Z", also with a fraction) is RFC 3339 in UTC.
std::optional<SystemClock::time_point> parse_expiration(const std::string& text) {
  WallTime t;
  if (!parse_rfc3339(text, &t)) return std::nullopt;
  return t;
}
}  // namespace

ChainCredentialsProvider::ChainCredentialsProvider(ChainOptions options) : options_(std::move(options)) {
  if (!options_.getenv) {
    options_.getenv = [](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      if (!v) return std::nullopt;
      return std::string(v);
    };
  }
  if (!options_.now) options_.now = [] { return SystemClock::now(); };
  if (options_.home.empty()) options_.home = env("HOME").value_or("");
}

std::optional<std::string> ChainCredentialsProvider::env(const std::string& name) const {
  auto v = options_.getenv(name);
  if (v && v->empty()) return std::nullopt;  // set but empty counts as unset, as in the SDKs
  return v;
}

SystemClock::time_point ChainCredentialsProvider::now() const { return options_.now(); }

bool ChainCredentialsProvider::get(Credentials* out, std::string* error, bool force_refresh) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto t = now();
  if (cached_ && !force_refresh && (!cached_->expiration || *cached_->expiration - options_.refresh_before > t)) {
    *out = *cached_;
    return true;
  }
  Credentials fresh;
  std::string why;
  Found found = resolve(&fresh, &why);
  if (found == Found::kOk) {
    cached_ = fresh;
    *out = fresh;
    return true;
  }
  // A failed refresh keeps still-valid credentials (the SDKs do the same).
  if (cached_ && cached_->expiration && *cached_->expiration > t && !force_refresh) {
    *out = *cached_;
    return true;
  }
  if (found == Found::kNotConfigured)
    why =
        "no AWS credentials found (tried environment, web identity, shared files, container, "
        "instance metadata): " +
        why;
  *error = why;
  return false;
}

ChainCredentialsProvider::Found ChainCredentialsProvider::resolve(Credentials* out, std::string* error) {
  using Source = Found (ChainCredentialsProvider::*)(Credentials*, std::string*);
  static const Source sources[] = {&ChainCredentialsProvider::from_environment,
                                   &ChainCredentialsProvider::from_web_identity,
                                   &ChainCredentialsProvider::from_shared_files,
                                   &ChainCredentialsProvider::from_container, &ChainCredentialsProvider::from_imds};
  std::string notes;
  for (Source source : sources) {
    std::string why;
    Found f = (this->*source)(out, &why);
    if (f != Found::kNotConfigured) {
      *error = why;
      return f;
    }
    if (!why.empty()) notes += (notes.empty() ? "" : "; ") + why;
  }
  *error = notes;
  return Found::kNotConfigured;
}

ChainCredentialsProvider::Found ChainCredentialsProvider::from_environment(Credentials* out, std::string* error) {
  auto id = env("AWS_ACCESS_KEY_ID");
  auto secret = env("AWS_SECRET_ACCESS_KEY");
  if (!id && !secret) return Found::kNotConfigured;
  if (!id || !secret) {
    *error = std::string("environment: ") + (id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID") +
             " is not set while " + (id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY") + " is";
    return Found::kError;
  }
  out->access_key_id = *id;
  out->secret_access_key = *secret;
  out->session_token = env("AWS_SESSION_TOKEN").value_or("");
  out->expiration.reset();
  out->source = "environment";
  return Found::kOk;
}

namespace {
std::shared_ptr<rs::HttpTransport> transport_or_curl(std::shared_ptr<rs::HttpTransport>* t) {
  if (!*t) *t = rs::make_curl_transport();
  return *t;
}

const tinyxml2::XMLElement* path(const tinyxml2::XMLNode* node, std::initializer_list<const char*> names) {
  const tinyxml2::XMLNode* n = node;
  for (const char* name : names) {
    if (!n) return nullptr;
    n = n->FirstChildElement(name);
  }
  return n ? n->ToElement() : nullptr;
}
std::string text_of(const tinyxml2::XMLElement* e) { return e && e->GetText() ? e->GetText() : ""; }
}  // namespace

ChainCredentialsProvider::Found ChainCredentialsProvider::from_web_identity(Credentials* out, std::string* error) {
  auto token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
  auto role = env("AWS_ROLE_ARN");
  if (!token_file && !role) return Found::kNotConfigured;
  if (!token_file || !role) {
    *error = "web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN must be set together";
    return Found::kError;
  }
  std::string token, why;
  if (!rs::common::read_secret_file(*token_file, "web identity token", &token, &why)) {
    *error = "web identity: " + why;
    return Found::kError;
  }
  std::string endpoint = env("AWS_ENDPOINT_URL_STS").value_or(options_.sts_endpoint);
  if (endpoint.empty()) {
    std::string region = options_.region.empty() ? env("AWS_REGION").value_or("us-east-1") : options_.region;
    endpoint = "https://sts." + region + ".amazonaws.com";
  }
  std::string session =
      env("AWS_ROLE_SESSION_NAME")
          .value_or("rollback-sidecar-" +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count()));
  rs::HttpRequest request;
  request.method = "POST";
  request.url = endpoint + "/";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  request.body = form_encode({{"Action", "AssumeRoleWithWebIdentity"},
                              {"Version", "2011-06-15"},
                              {"RoleArn", *role},
                              {"RoleSessionName", session},
                              {"WebIdentityToken", token}});
  request.timeout = options_.timeout;
  request.max_body_bytes = 256 * 1024;
  auto response = transport_or_curl(&options_.transport)->perform(request);
  const std::string what = "web identity: STS AssumeRoleWithWebIdentity for " + *role + " at " + endpoint;
  if (response.error != rs::TransportError::kNone) {
    *error = what + ": " + snippet(response.error_message, token);
    return Found::kError;
  }
  tinyxml2::XMLDocument doc;
  bool parsed = doc.Parse(response.body.c_str(), response.body.size()) == tinyxml2::XML_SUCCESS;
  if (response.status != 200) {
    const auto* err = parsed ? path(&doc, {"ErrorResponse", "Error"}) : nullptr;
    *error = what + ": HTTP " + std::to_string(response.status) +
             (err ? ": " + text_of(err->FirstChildElement("Code")) + ": " + text_of(err->FirstChildElement("Message"))
                  : ": " + snippet(response.body, token));
    rs::common::redact(error, token);
    return Found::kError;
  }
  const auto* c =
      parsed ? path(&doc, {"AssumeRoleWithWebIdentityResponse", "AssumeRoleWithWebIdentityResult", "Credentials"})
             : nullptr;
  if (!c) {
    *error = what + ": reply has no AssumeRoleWithWebIdentityResult/Credentials";
    return Found::kError;
  }
  out->access_key_id = text_of(c->FirstChildElement("AccessKeyId"));
  out->secret_access_key = text_of(c->FirstChildElement("SecretAccessKey"));
  out->session_token = text_of(c->FirstChildElement("SessionToken"));
  out->expiration = parse_expiration(text_of(c->FirstChildElement("Expiration")));
  out->source = "web-identity " + *role;
  if (out->access_key_id.empty() || out->secret_access_key.empty() || !out->expiration) {
    *error = what + ": reply lacks AccessKeyId, SecretAccessKey or a valid Expiration";
    return Found::kError;
  }
  return Found::kOk;
}

ChainCredentialsProvider::Found ChainCredentialsProvider::from_shared_files(Credentials* out, std::string* error) {
  std::string profile = env("AWS_PROFILE").value_or(options_.profile.empty() ? "default" : options_.profile);
  bool explicit_profile = env("AWS_PROFILE") || !options_.profile.empty();
  std::string creds_file = env("AWS_SHARED_CREDENTIALS_FILE").value_or(options_.home + "/.aws/credentials");
  std::string config_file = env("AWS_CONFIG_FILE").value_or(options_.home + "/.aws/config");
  struct Candidate {
    std::string file, section;
  };
  for (const Candidate& c : {Candidate{creds_file, profile},
                             Candidate{config_file, profile == "default" ? "default" : "profile " + profile}}) {
    Ini ini;
    std::string why;
    bool missing = false;
    if (!read_ini(c.file, &ini, &why, &missing)) {
      if (missing) continue;
      *error = "shared file: " + why;
      return Found::kError;
    }
    auto it = ini.find(c.section);
    if (it == ini.end()) continue;
    const auto& keys = it->second;
    auto id = keys.find("aws_access_key_id");
    auto secret = keys.find("aws_secret_access_key");
    if (id == keys.end() && secret == keys.end()) continue;  // e.g. a config profile with only region
    if (id == keys.end() || secret == keys.end() || id->second.empty() || secret->second.empty()) {
      *error = "shared file " + c.file + " [" + c.section + "]: needs both aws_access_key_id and aws_secret_access_key";
      return Found::kError;
    }
    out->access_key_id = id->second;
    out->secret_access_key = secret->second;
    auto token = keys.find("aws_session_token");
    out->session_token = token == keys.end() ? "" : token->second;
    out->expiration.reset();
    out->source = "shared-file " + c.file + " profile " + profile;
    return Found::kOk;
  }
  if (explicit_profile) {
    *error = "shared files: profile '" + profile + "' has no keys in " + creds_file + " or " + config_file;
    return Found::kError;
  }
  return Found::kNotConfigured;
}

namespace {
bool parse_json_credentials(const std::string& body, Credentials* out, std::string* why) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *why = "reply is not a JSON object";
    return false;
  }
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; };
  if (j.contains("Code") && str("Code") != "Success") {
    *why = "Code " + str("Code") + ": " + str("Message");
    return false;
  }
  out->access_key_id = str("AccessKeyId");
  out->secret_access_key = str("SecretAccessKey");
  out->session_token = str("Token");
  out->expiration = parse_expiration(str("Expiration"));
  if (out->access_key_id.empty() || out->secret_access_key.empty()) {
    *why = "reply lacks AccessKeyId or SecretAccessKey";
    return false;
  }
  if (!str("Expiration").empty() && !out->expiration) {
    *why = "Expiration '" + str("Expiration") + "' is not an ISO 8601 UTC time";
    return false;
  }
  return true;
}
}  // namespace

ChainCredentialsProvider::Found ChainCredentialsProvider::from_container(Credentials* out, std::string* error) {
  auto relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  auto full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (!relative && !full) return Found::kNotConfigured;
  std::string url = relative ? options_.container_host + *relative : *full;
  std::string auth;
  if (auto file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
    std::string why;
    if (!rs::common::read_secret_file(*file, "container authorization token", &auth, &why)) {
      *error = "container credentials: " + why;
      return Found::kError;
    }
  } else {
    auth = env("AWS_CONTAINER_AUTHORIZATION_TOKEN").value_or("");
  }
  rs::HttpRequest request;
  request.url = url;
  if (!auth.empty()) request.headers.emplace_back("Authorization", auth);
  request.timeout = options_.timeout;
  request.max_body_bytes = 64 * 1024;
  auto response = transport_or_curl(&options_.transport)->perform(request);
  const std::string what = "container credentials " + url;
  if (response.error != rs::TransportError::kNone) {
    *error = what + ": " + snippet(response.error_message, auth);
    return Found::kError;
  }
  if (response.status != 200) {
    *error = what + ": HTTP " + std::to_string(response.status) + ": " + snippet(response.body, auth);
    return Found::kError;
  }
  std::string why;
  if (!parse_json_credentials(response.body, out, &why)) {
    *error = what + ": " + why;
    return Found::kError;
  }
  out->source = "container " + url;
  return Found::kOk;
}

ChainCredentialsProvider::Found ChainCredentialsProvider::from_imds(Credentials* out, std::string* error) {
  auto disabled = env("AWS_EC2_METADATA_DISABLED");
  if (disabled && (*disabled == "true" || *disabled == "TRUE" || *disabled == "True")) {
    *error = "instance metadata disabled by AWS_EC2_METADATA_DISABLED";
    return Found::kNotConfigured;
  }
  std::string base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
  while (!base.empty() && base.back() == '/') base.pop_back();
  auto transport = transport_or_curl(&options_.transport);
  rs::HttpRequest put;
  put.method = "PUT";
  put.url = base + "/latest/api/token";
  put.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
  put.timeout = std::min(options_.timeout, std::chrono::milliseconds(1000));
  put.max_body_bytes = 4096;
  auto token = transport->perform(put);
  if (token.error != rs::TransportError::kNone || token.status != 200) {
    // No metadata service here: not an EC2 instance (or IMDSv2 blocked); the chain ends empty.
    *error = "instance metadata " + put.url + ": " +
             (token.error != rs::TransportError::kNone ? token.error_message : "HTTP " + std::to_string(token.status));
    return Found::kNotConfigured;
  }
  const std::string imds_token = trim(token.body);
  auto get = [&](const std::string& path, rs::HttpResponse* r) {
    rs::HttpRequest request;
    request.url = base + path;
    request.headers = {{"X-aws-ec2-metadata-token", imds_token}};
    request.timeout = options_.timeout;
    request.max_body_bytes = 64 * 1024;
    *r = transport->perform(request);
    if (r->error != rs::TransportError::kNone) {
      *error = "instance metadata " + request.url + ": " + snippet(r->error_message, imds_token);
      return false;
    }
    if (r->status != 200) {
      *error = "instance metadata " + request.url + ": HTTP " + std::to_string(r->status);
      return false;
    }
    return true;
  };
  rs::HttpResponse roles;
  if (!get("/latest/meta-data/iam/security-credentials/", &roles)) return Found::kError;
  std::string role = trim(roles.body.substr(0, roles.body.find('\n')));
  if (role.empty()) {
    *error = "instance metadata: the instance has no IAM role";
    return Found::kError;
  }
  rs::HttpResponse creds;
  if (!get("/latest/meta-data/iam/security-credentials/" + role, &creds)) return Found::kError;
  std::string why;
  if (!parse_json_credentials(creds.body, out, &why)) {
    *error = "instance metadata role " + role + ": " + why;
    return Found::kError;
  }
  out->source = "instance-metadata role " + role;
  return Found::kOk;
}

std::shared_ptr<CredentialsProvider> default_credentials_provider(const std::string& profile,
                                                                  const std::string& region) {
  static std::mutex mu;
  static std::map<std::pair<std::string, std::string>, std::shared_ptr<CredentialsProvider>> providers;
  std::lock_guard<std::mutex> lock(mu);
  auto& p = providers[{profile, region}];
  if (!p) {
    ChainOptions o;
    o.profile = profile;
    o.region = region;
    p = std::make_shared<ChainCredentialsProvider>(std::move(o));
  }
  return p;
}

}  // namespace rs::aws
