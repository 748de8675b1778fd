#include "common/aws/credentials.h"

#include <nlohmann/json.hpp>
#include <tinyxml2.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <sstream>
#include <tuple>

#include "common/aws/aws_client.h"
#include "common/clock.h"
#include "common/http/url.h"
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
    // A profile named in the config (the CLI's --profile) negates the environment's keys, as in
    // botocore: they stay available to that profile's credential_source = Environment.
    if (source == &ChainCredentialsProvider::from_environment && !options_.profile.empty()) continue;
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

// The Credentials of an STS reply (AssumeRole, AssumeRoleWithWebIdentity: same shape).
bool parse_sts_credentials(const std::string& body, const std::string& action, Credentials* out, std::string* why) {
  tinyxml2::XMLDocument doc;
  const tinyxml2::XMLElement* c = nullptr;
  if (doc.Parse(body.c_str(), body.size()) == tinyxml2::XML_SUCCESS)
    c = path(&doc, {(action + "Response").c_str(), (action + "Result").c_str(), "Credentials"});
  if (!c) {
    *why = "reply has no " + action + "Result/Credentials";
    return false;
  }
  out->access_key_id = text_of(c->FirstChildElement("AccessKeyId"));
  out->secret_access_key = text_of(c->FirstChildElement("SecretAccessKey"));
  out->session_token = text_of(c->FirstChildElement("SessionToken"));
  out->expiration = parse_expiration(text_of(c->FirstChildElement("Expiration")));
  if (out->access_key_id.empty() || out->secret_access_key.empty() || !out->expiration) {
    *why = "reply lacks AccessKeyId, SecretAccessKey or a valid Expiration";
    return false;
  }
  return true;
}
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
  const std::string endpoint = sts_endpoint();
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
  if (!parse_sts_credentials(response.body, "AssumeRoleWithWebIdentity", out, &why)) {
    *error = what + ": " + why;
    return Found::kError;
  }
  out->source = "web-identity " + *role;
  return Found::kOk;
}

// The two shared files as read once per resolution: profiles are looked up in both, the way the
// AWS CLI merges them (the credentials file's [NAME] over the config file's [profile NAME]).
struct ChainCredentialsProvider::SharedFiles {
  std::string creds_file, config_file;
  Ini creds, config;

  static std::string config_section(const std::string& name) {
    return name == "default" ? "default" : "profile " + name;
  }
  bool has(const std::string& name) const { return creds.count(name) || config.count(config_section(name)); }
  std::map<std::string, std::string> merged(const std::string& name) const {
    std::map<std::string, std::string> out;
    if (auto it = config.find(config_section(name)); it != config.end()) out = it->second;
    if (auto it = creds.find(name); it != creds.end())
      for (const auto& [k, v] : it->second) out[k] = v;
    return out;
  }
  // "[profile NAME] in ~/.aws/config" for error texts: the file(s) the profile is in.
  std::string where(const std::string& name) const {
    std::string out;
    if (creds.count(name)) out = creds_file + " [" + name + "]";
    if (config.count(config_section(name)))
      out += (out.empty() ? "" : " and ") + config_file + " [" + config_section(name) + "]";
    return out;
  }
};

namespace {

enum class CredentialSource { kEnvironment, kEc2InstanceMetadata, kEcsContainer };

std::optional<CredentialSource> parse_credential_source(const std::string& text) {
  if (text == "Environment") return CredentialSource::kEnvironment;
  if (text == "Ec2InstanceMetadata") return CredentialSource::kEc2InstanceMetadata;
  if (text == "EcsContainer") return CredentialSource::kEcsContainer;
  return std::nullopt;
}

std::string value_or(const std::map<std::string, std::string>& keys, const std::string& key,
                     const std::string& fallback = "") {
  auto it = keys.find(key);
  return it == keys.end() ? fallback : it->second;
}

// Static keys of one file's section: kNotConfigured when it has none, kError when only half.
enum class Keys { kNone, kOk, kHalf };
Keys static_keys(const Ini& ini, const std::string& section, Credentials* out) {
  auto it = ini.find(section);
  if (it == ini.end()) return Keys::kNone;
  const auto& keys = it->second;
  std::string id = value_or(keys, "aws_access_key_id"), secret = value_or(keys, "aws_secret_access_key");
  if (!keys.count("aws_access_key_id") && !keys.count("aws_secret_access_key")) return Keys::kNone;
  if (id.empty() || secret.empty()) return Keys::kHalf;
  out->access_key_id = id;
  out->secret_access_key = secret;
  out->session_token = value_or(keys, "aws_session_token");
  out->expiration.reset();
  return Keys::kOk;
}

std::string sha1_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr) != 1) return "";
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

// The AWS CLI v2 writes "2024-05-01T12:00:00Z"; v1 wrote "2024-05-01T12:00:00UTC".
std::optional<SystemClock::time_point> parse_sso_expiry(std::string text) {
  if (text.size() > 3 && text.compare(text.size() - 3, 3, "UTC") == 0) text = text.substr(0, text.size() - 3) + "Z";
  return parse_expiration(text);
}

}  // namespace

std::string ChainCredentialsProvider::sts_region() const {
  if (!options_.region.empty()) return options_.region;
  return env("AWS_REGION").value_or(env("AWS_DEFAULT_REGION").value_or("us-east-1"));
}

std::string ChainCredentialsProvider::sts_endpoint() const {
  std::string endpoint = env("AWS_ENDPOINT_URL_STS").value_or(options_.sts_endpoint);
  if (endpoint.empty()) endpoint = "https://sts." + sts_region() + ".amazonaws.com";
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  return endpoint;
}

ChainCredentialsProvider::Found ChainCredentialsProvider::from_shared_files(Credentials* out, std::string* error) {
  std::string profile = env("AWS_PROFILE").value_or(options_.profile.empty() ? "default" : options_.profile);
  bool explicit_profile = env("AWS_PROFILE") || !options_.profile.empty();
  SharedFiles files;
  files.creds_file = env("AWS_SHARED_CREDENTIALS_FILE").value_or(options_.home + "/.aws/credentials");
  files.config_file = env("AWS_CONFIG_FILE").value_or(options_.home + "/.aws/config");
  for (auto [file, ini] : {std::pair{&files.creds_file, &files.creds}, std::pair{&files.config_file, &files.config}}) {
    std::string why;
    bool missing = false;
    if (!read_ini(*file, ini, &why, &missing) && !missing) {
      *error = "shared file: " + why;
      return Found::kError;
    }
  }
  std::vector<std::string> visited{profile};
  Found found = files.has(profile) ? from_profile(files, profile, true, &visited, out, error) : Found::kNotConfigured;
  if (found == Found::kNotConfigured && explicit_profile) {
    *error = "shared files: profile '" + profile + "' has no keys in " + files.creds_file + " or " + files.config_file;
    return Found::kError;
  }
  return found;
}

ChainCredentialsProvider::Found ChainCredentialsProvider::from_profile(const SharedFiles& files,
                                                                       const std::string& name, bool top,
                                                                       std::vector<std::string>* visited,
                                                                       Credentials* out, std::string* error) {
  const auto keys = files.merged(name);
  Credentials fixed;
  // Static keys, the credentials file first (the CLI's shared-credentials provider comes before
  // its config-file provider).
  auto from_keys = [&]() -> Found {
    for (const auto& [ini, section, file] :
         {std::tuple{&files.creds, name, &files.creds_file},
          std::tuple{&files.config, SharedFiles::config_section(name), &files.config_file}}) {
      switch (static_keys(*ini, section, &fixed)) {
        case Keys::kNone: continue;
        case Keys::kHalf:
          *error =
              "shared file " + *file + " [" + section + "]: needs both aws_access_key_id and aws_secret_access_key";
          return Found::kError;
        case Keys::kOk:
          *out = fixed;
          out->source = "shared-file " + *file + " profile " + name;
          return Found::kOk;
      }
    }
    return Found::kNotConfigured;
  };
  const bool has_role = keys.count("role_arn") > 0;
  // As in botocore, the account and role make an SSO credential profile; sso_session or
  // sso_start_url alone only configure `aws sso login`.
  const bool has_sso = keys.count("sso_account_id") || keys.count("sso_role_name");
  if (has_role && !top) {
    // A source profile's own keys win over its role_arn (botocore does the same).
    Found f = from_keys();
    if (f != Found::kNotConfigured) return f;
  }
  if (has_role) return assume_role(files, name, visited, out, error);
  if (has_sso) return from_sso(files, name, out, error);
  return from_keys();
}

ChainCredentialsProvider::Found ChainCredentialsProvider::assume_role(const SharedFiles& files, const std::string& name,
                                                                      std::vector<std::string>* visited,
                                                                      Credentials* out, std::string* error) {
  const auto keys = files.merged(name);
  const std::string role = value_or(keys, "role_arn");
  const std::string here = "profile '" + name + "' (" + files.where(name) + ")";
  const bool has_source_profile = keys.count("source_profile") > 0;
  const bool has_credential_source = keys.count("credential_source") > 0;
  if (role.empty()) {
    *error = here + ": role_arn is empty";
    return Found::kError;
  }
  if (has_source_profile == has_credential_source) {
    *error = here + ": role_arn needs exactly one of source_profile and credential_source" +
             (has_source_profile ? " (both are set)" : " (neither is set)");
    return Found::kError;
  }
  Credentials source;
  std::string why;
  if (has_credential_source) {
    const std::string text = value_or(keys, "credential_source");
    auto kind = parse_credential_source(text);
    if (!kind) {
      *error = here + ": credential_source '" + text + "' is not one of Environment, Ec2InstanceMetadata, EcsContainer";
      return Found::kError;
    }
    Found f = *kind == CredentialSource::kEnvironment           ? from_environment(&source, &why)
              : *kind == CredentialSource::kEc2InstanceMetadata ? from_imds(&source, &why)
                                                                : from_container(&source, &why);
    if (f != Found::kOk) {
      if (why.empty())  // not configured: say what would configure it
        why = *kind == CredentialSource::kEnvironment
                  ? "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"
                  : "neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set";
      *error = here + ": credential_source " + text + ": " + why;
      return Found::kError;
    }
  } else {
    const std::string next = value_or(keys, "source_profile");
    if (!files.has(next)) {
      *error =
          here + ": source_profile '" + next + "' does not exist in " + files.creds_file + " or " + files.config_file;
      return Found::kError;
    }
    Credentials own;
    const bool self_with_keys =
        next == name && (static_keys(files.creds, name, &own) == Keys::kOk ||
                         static_keys(files.config, SharedFiles::config_section(name), &own) == Keys::kOk);
    if (std::find(visited->begin(), visited->end(), next) != visited->end() && !self_with_keys) {
      std::string loop;
      for (const auto& p : *visited) loop += p + " -> ";
      *error = "shared files: source_profile cycle: " + loop + next +
               " (a profile may name itself only when it has static keys)";
      return Found::kError;
    }
    visited->push_back(next);
    Found f = from_profile(files, next, false, visited, &source, &why);
    if (f == Found::kError) {
      *error = why;
      return Found::kError;
    }
    if (f == Found::kNotConfigured) {
      *error = here + ": source_profile '" + next + "' has no credentials (" + files.where(next) + ")";
      return Found::kError;
    }
  }

  std::vector<std::pair<std::string, std::string>> params = {
      {"RoleArn", role},
      {"RoleSessionName",
       value_or(
           keys, "role_session_name",
           "rollback-sidecar-" +
               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count()))}};
  if (keys.count("external_id")) params.emplace_back("ExternalId", value_or(keys, "external_id"));
  if (keys.count("duration_seconds")) {
    const std::string text = value_or(keys, "duration_seconds");
    char* end = nullptr;
    long seconds = std::strtol(text.c_str(), &end, 10);
    // STS accepts 15 minutes up to the role's maximum session duration (at most 12 hours).
    if (text.empty() || *end != '\0' || seconds < 900 || seconds > 43200) {
      *error = here + ": duration_seconds '" + text + "' is not a whole number of seconds from 900 to 43200";
      return Found::kError;
    }
    params.emplace_back("DurationSeconds", std::to_string(seconds));
  }
  AwsClientOptions o;
  o.service = "sts";
  o.region = sts_region();
  o.endpoint = sts_endpoint();
  o.timeout = options_.timeout;
  AwsClient client(o, std::make_shared<StaticCredentialsProvider>(source), transport_or_curl(&options_.transport));
  AwsResult r =
      client.query_call("AssumeRole", "2011-06-15", params,
                        std::chrono::steady_clock::now() + options_.timeout * o.max_attempts + o.initial_backoff * 4);
  const std::string what = here + ": STS AssumeRole for " + role + " at " + o.endpoint + " with " + source.describe();
  if (!r.ok) {
    *error = what + ": " + r.error_text();
    redact(error, source);
    return Found::kError;
  }
  if (!parse_sts_credentials(r.body, "AssumeRole", out, &why)) {
    *error = what + ": " + why;
    return Found::kError;
  }
  out->source = "assume-role " + role + " (profile " + name + ", from " + source.source + ")";
  return Found::kOk;
}

ChainCredentialsProvider::Found ChainCredentialsProvider::from_sso(const SharedFiles& files, const std::string& name,
                                                                   Credentials* out, std::string* error) {
  const auto keys = files.merged(name);
  const std::string here = "profile '" + name + "' (" + files.where(name) + ")";
  const std::string login = "run `aws sso login --profile " + name + "`";
  std::string start_url = value_or(keys, "sso_start_url"), region = value_or(keys, "sso_region");
  std::string cache_key = start_url;
  if (keys.count("sso_session")) {
    const std::string session = value_or(keys, "sso_session");
    auto it = files.config.find("sso-session " + session);
    if (it == files.config.end()) {
      *error =
          here + ": sso_session '" + session + "' has no [sso-session " + session + "] section in " + files.config_file;
      return Found::kError;
    }
    // The profile may repeat the session's values, but not contradict them (as in botocore).
    for (auto [key, value] : {std::pair{"sso_start_url", &start_url}, std::pair{"sso_region", &region}}) {
      const std::string from_session = value_or(it->second, key);
      if (from_session.empty()) {
        *error = "[sso-session " + session + "] in " + files.config_file + ": " + key + " is missing";
        return Found::kError;
      }
      if (!value->empty() && *value != from_session) {
        *error =
            here + ": " + key + " '" + *value + "' differs from [sso-session " + session + "]'s '" + from_session + "'";
        return Found::kError;
      }
      *value = from_session;
    }
    cache_key = session;
  }
  std::string missing;
  for (const char* key : {"sso_start_url", "sso_region", "sso_account_id", "sso_role_name"}) {
    const bool have = std::string(key) == "sso_start_url" ? !start_url.empty()
                      : std::string(key) == "sso_region"  ? !region.empty()
                                                          : !value_or(keys, key).empty();
    if (!have) missing += (missing.empty() ? "" : ", ") + std::string(key);
  }
  if (!missing.empty()) {
    *error = here + ": an SSO profile needs " + missing +
             (keys.count("sso_session") ? "" : " (or sso_session naming an [sso-session] section)");
    return Found::kError;
  }
  const std::string account = value_or(keys, "sso_account_id"), role = value_or(keys, "sso_role_name");

  const std::string token_file = options_.home + "/.aws/sso/cache/" + sha1_hex(cache_key) + ".json";
  std::string why;
  bool absent = false;
  auto text = rs::common::read_regular_file(token_file, 1024 * 1024, &why, &absent);
  if (!text) {
    *error = here + ": no SSO token cached for " + cache_key + " (" + (absent ? token_file + " does not exist" : why) +
             "): " + login;
    return Found::kError;
  }
  auto token_json = nlohmann::json::parse(*text, nullptr, false);
  const bool shaped = token_json.is_object() && token_json.contains("accessToken") &&
                      token_json["accessToken"].is_string() && token_json.contains("expiresAt") &&
                      token_json["expiresAt"].is_string();
  if (!shaped) {
    *error = here + ": the cached SSO token " + token_file + " has no accessToken and expiresAt: " + login;
    return Found::kError;
  }
  const std::string token = token_json["accessToken"].get<std::string>();
  const std::string expires_text = token_json["expiresAt"].get<std::string>();
  auto expires = parse_sso_expiry(expires_text);
  if (!expires || *expires <= now()) {
    *error = here + ": the cached SSO token for " + cache_key + " " +
             (expires ? "expired at " + expires_text : "has an unreadable expiresAt '" + expires_text + "'") + ": " +
             login;
    return Found::kError;
  }

  std::string endpoint = env("AWS_ENDPOINT_URL_SSO").value_or(options_.sso_endpoint);
  if (endpoint.empty()) endpoint = "https://portal.sso." + region + ".amazonaws.com";
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  rs::HttpRequest request;
  request.url =
      endpoint + "/federation/credentials?account_id=" + percent_encode(account) + "&role_name=" + percent_encode(role);
  request.headers = {{"x-amz-sso_bearer_token", token}};
  request.timeout = options_.timeout;
  request.max_body_bytes = 64 * 1024;
  auto response = transport_or_curl(&options_.transport)->perform(request);
  const std::string what =
      here + ": SSO GetRoleCredentials for account " + account + " role " + role + " at " + endpoint;
  if (response.error != rs::TransportError::kNone) {
    *error = what + ": " + snippet(response.error_message, token);
    return Found::kError;
  }
  if (response.status != 200) {
    std::string code, message;
    parse_error_reply(response, &code, &message);
    *error = what + ": " + (code.empty() ? "" : code + " ") + "(HTTP " + std::to_string(response.status) + ")" +
             (message.empty() ? "" : ": " + message) + (response.status == 401 ? ": " + login : "");
    rs::common::redact(error, token);
    return Found::kError;
  }
  auto j = nlohmann::json::parse(response.body, nullptr, false);
  const nlohmann::json* rc = nullptr;
  if (j.is_object() && j.contains("roleCredentials") && j["roleCredentials"].is_object()) rc = &j["roleCredentials"];
  auto str = [&](const char* k) {
    return rc && rc->contains(k) && (*rc)[k].is_string() ? (*rc)[k].get<std::string>() : std::string();
  };
  if (!rc || str("accessKeyId").empty() || str("secretAccessKey").empty() || !rc->contains("expiration") ||
      !(*rc)["expiration"].is_number_integer()) {
    *error = what + ": reply lacks roleCredentials {accessKeyId, secretAccessKey, expiration (ms)}";
    return Found::kError;
  }
  out->access_key_id = str("accessKeyId");
  out->secret_access_key = str("secretAccessKey");
  out->session_token = str("sessionToken");
  out->expiration = SystemClock::time_point(std::chrono::milliseconds((*rc)["expiration"].get<std::int64_t>()));
  out->source = "sso " + account + "/" + role + " (profile " + name + ")";
  return Found::kOk;
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
