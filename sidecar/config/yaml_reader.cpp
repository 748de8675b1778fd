#include "sidecar/config/yaml_reader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "common/duration.h"
#include "common/template.h"
#include "common/utf8.h"

namespace rs::sidecar::config_internal {

std::string quote_clipped(const std::string& s, std::size_t max) {
  if (s.size() <= max) return "'" + s + "'";
  return "'" + common::cut_utf8_prefix(s, max) + "...' (" + std::to_string(s.size()) + " characters)";
}

std::string comma_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

const char* node_kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "empty";
    default: return "undefined";
  }
}

int line_of(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

MapReader::MapReader(YAML::Node node, std::string path, int line, Errors& errors)
    : node_(std::move(node)), path_(std::move(path)), line_(line), errors_(errors) {
  if (node_ && !node_.IsMap() && !node_.IsNull()) {
    add(path_, line_, "must be a map, found " + std::string(node_kind(node_)));
    node_ = YAML::Node();
  }
  // yaml-cpp keeps a repeated key and lookups see only the first: a later `dry_run: true`
  // would be silently ignored, so a repeat is an error.
  if (node_ && node_.IsMap()) {
    std::map<std::string, int> first_line;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      auto [at, inserted] = first_line.emplace(it->first.Scalar(), line_of(it->first));
      if (!inserted)
        add(key_path(it->first.Scalar()), line_of(it->first),
            "repeated key (first at line " + std::to_string(at->second) + "); remove one");
    }
  }
}

bool MapReader::has(const std::string& key) const { return node_ && node_.IsMap() && node_[key]; }

common::PluginSettings::Kind MapReader::kind(const std::string& key) const {
  if (!has(key)) return Kind::kMissing;
  const YAML::Node n = node_[key];
  if (n.IsSequence()) return Kind::kList;
  if (n.IsMap()) return Kind::kMap;
  return n.IsScalar() ? Kind::kScalar : Kind::kUnknown;
}

YAML::Node MapReader::raw(const std::string& key) {
  seen_.insert(key);
  if (!node_ || !node_.IsMap()) return YAML::Node();
  return node_[key];
}

int MapReader::line(const std::string& key) const {
  if (node_ && node_.IsMap()) {
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (it->first.Scalar() == key) return line_of(it->first);
    }
  }
  return line_;
}

void MapReader::error(const std::string& key, const std::string& message) { add(key_path(key), line(key), message); }

std::optional<std::string> MapReader::scalar(const std::string& key, bool required) {
  YAML::Node n = raw(key);
  if (!n || n.IsNull()) {
    if (required) error(key, "is required");
    return std::nullopt;
  }
  if (!n.IsScalar()) {
    error(key, std::string("must be a scalar, found ") + node_kind(n));
    return std::nullopt;
  }
  return n.Scalar();
}

std::string MapReader::string(const std::string& key, std::optional<std::string> fallback) {
  auto v = scalar(key, !fallback.has_value());
  return v ? *v : fallback.value_or("");
}

std::vector<std::string> MapReader::string_list(const std::string& key,
                                                std::optional<std::vector<std::string>> fallback) {
  YAML::Node n = raw(key);
  if (!n || n.IsNull()) {
    if (!fallback) error(key, "is required");
    return fallback.value_or(std::vector<std::string>{});
  }
  if (!n.IsSequence()) {
    error(key, std::string("must be a list, found ") + node_kind(n));
    return fallback.value_or(std::vector<std::string>{});
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar()) {
      add(key_path(key) + "[" + std::to_string(i) + "]", line_of(n[i]), "must be a string");
      continue;
    }
    out.push_back(n[i].Scalar());
  }
  return out;
}

std::map<std::string, std::string> MapReader::string_map(const std::string& key) {
  YAML::Node n = raw(key);
  std::map<std::string, std::string> out;
  if (!n || n.IsNull()) return out;
  if (!n.IsMap()) {
    error(key, std::string("must be a map, found ") + node_kind(n));
    return out;
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->second.IsScalar()) {
      add(key_path(key) + "." + it->first.Scalar(), line_of(it->first), "must be a string");
      continue;
    }
    out[it->first.Scalar()] = it->second.Scalar();
  }
  return out;
}

std::chrono::milliseconds MapReader::duration(const std::string& key,
                                              std::optional<std::chrono::milliseconds> fallback) {
  auto text = scalar(key, !fallback.has_value());
  if (!text) return fallback.value_or(std::chrono::milliseconds{0});
  std::string why;
  auto d = common::parse_duration(*text, &why);
  if (!d) {
    error(key, "'" + *text + "' is not a duration (" + why + "); use Prometheus format like 500ms, 30s, 5m, 1h30m");
    return fallback.value_or(std::chrono::milliseconds{0});
  }
  if (*d > kMaxDuration) {
    error(key, quote_clipped(*text) + " is longer than the limit of " + common::format_duration(kMaxDuration) +
                   " (365 days)");
    return fallback.value_or(std::chrono::milliseconds{0});
  }
  return *d;
}

std::optional<double> MapReader::number(const std::string& key) {
  auto text = scalar(key, false);
  if (!text) return std::nullopt;
  const char* begin = text->c_str();
  char* end = nullptr;
  double v = std::strtod(begin, &end);
  if (text->empty() || end != begin + text->size() || !std::isfinite(v)) {
    error(key, "'" + *text + "' is not a finite number");
    return std::nullopt;
  }
  return v;
}

long long MapReader::integer(const std::string& key, std::optional<long long> fallback) {
  auto text = scalar(key, !fallback.has_value());
  if (!text) return fallback.value_or(0);
  char* end = nullptr;
  long long v = std::strtoll(text->c_str(), &end, 10);
  if (text->empty() || end != text->c_str() + text->size()) {
    error(key, "'" + *text + "' is not an integer");
    return fallback.value_or(0);
  }
  return v;
}

bool MapReader::boolean(const std::string& key, std::optional<bool> fallback) {
  auto text = scalar(key, !fallback.has_value());
  if (!text) return fallback.value_or(false);
  if (*text == "true") return true;
  if (*text == "false") return false;
  error(key, "'" + *text + "' is not a boolean (true or false)");
  return fallback.value_or(false);
}

std::optional<std::string> MapReader::render(const std::string& key, const std::string& text, const Vars& vars) {
  std::string why;
  auto out = common::render_template(text, vars, &why);
  if (!out) error(key, why);
  return out;
}

MapReader MapReader::child(const std::string& key) {
  YAML::Node n = raw(key);
  return MapReader(n, key_path(key), n ? line_of(n) : line(key), errors_);
}

void MapReader::finish(const std::map<std::string, std::string>& hints) {
  if (!node_ || !node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string k = it->first.Scalar();
    if (seen_.count(k)) continue;
    auto hint = hints.find(k);
    add(key_path(k), line_of(it->first), hint != hints.end() ? hint->second : "unknown key" + known_keys_suffix());
  }
}

void MapReader::add(const std::string& path, int line, const std::string& message) {
  errors_.push_back(ConfigError{path, line, message});
}

std::string MapReader::known_keys_suffix() const {
  if (seen_.empty()) return "";
  return " (known here: " + comma_list({seen_.begin(), seen_.end()}) + ")";
}

namespace {

// Records where each document starts and nothing else. yaml-cpp 0.7 never consumes a ',' met at
// the top of a document (", x", "[a], b", found by fuzz_config_yaml): every further
// HandleNextDocument() reports an empty document starting at that same ',', so YAML::LoadAll()
// never returns. Two documents starting at one position is that loop.
class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

std::optional<YAML::Node> read_document(const std::string& text, Errors& errors) {
  if (const auto control = common::find_control_byte(text)) {
    errors.push_back(ConfigError{"", static_cast<int>(control->line),
                                 control->describe() + ": YAML is text and allows no control characters other than "
                                                       "tab and line breaks (is this a binary file?)"});
    return std::nullopt;
  }
  YAML::Node root;
  try {
    // Where the documents start, before any is built: YAML::LoadAll is never used (see
    // DocumentStarts), and a plain load reads only the first document, so the settings after a
    // second `---` (often a second config pasted below) would be silently ignored.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts starts;
    while (starts.marks.size() < 3 && parser.HandleNextDocument(starts)) {}
    const auto& marks = starts.marks;
    for (std::size_t i = 1; i < marks.size(); ++i) {
      if (marks[i].pos == marks[i - 1].pos) {
        errors.push_back(ConfigError{"", marks[i].line + 1,
                                     "YAML syntax error at line " + std::to_string(marks[i].line + 1) + ", column " +
                                         std::to_string(marks[i].column + 1) +
                                         ": the parser cannot get past this point (a ',' outside [ ] or { }?)"});
        return std::nullopt;
      }
    }
    if (marks.size() > 1) {
      errors.push_back(ConfigError{"", marks[1].line + 1,
                                   "the config must be one YAML document, found " +
                                       std::string(marks.size() > 2 ? "3 or more" : "2") +
                                       " (a second '---' starts one here); merge them or remove the '---'"});
      return std::nullopt;
    }
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    errors.push_back(ConfigError{"", e.mark.line >= 0 ? e.mark.line + 1 : 0, "YAML syntax error: " + e.msg});
    return std::nullopt;
  }
  if (!root.IsMap()) {
    errors.push_back(ConfigError{"", 1, std::string("the config must be a YAML map, found ") + node_kind(root)});
    return std::nullopt;
  }
  return root;
}

}  // namespace rs::sidecar::config_internal
