// load_config_text: read the one YAML document -> each top-level key's loader -> validate().
// The reader is yaml_reader.{h,cpp}; the loaders are load_<key>.cpp (see loaders.h).
#include "sidecar/config/config.h"

#include <re2/re2.h>

#include <fstream>
#include <sstream>

#include "common/read_file.h"
#include "sidecar/config/loaders.h"

namespace rs::sidecar {

std::string DeploymentConfig::identity() const {
  std::string id = "name=" + name + ";stage=" + stage + ";strategy=" + strategy;
  for (const auto& [k, v] : vars) id += ";" + k + "=" + v;  // std::map: sorted, stable
  return id;
}

std::string ConfigError::to_string(const std::string& config_file) const {
  std::string out = file.empty() ? config_file : file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  return out + message;
}

std::shared_ptr<const re2::RE2> compile_alert_matcher(const std::string& pattern, std::string* error) {
  re2::RE2::Options options;
  options.set_log_errors(false);  // the reason goes into the config error instead of stderr
  auto re = std::make_shared<const re2::RE2>(pattern, options);
  if (!re->ok()) {
    if (error) *error = re->error();
    return nullptr;
  }
  return re;
}

namespace {

using namespace config_internal;

// In this order: deployment sets the {{vars}} the later ones template with; actuators read the
// strategy; promotion reads evaluation_interval.
constexpr Loader kLoaders[] = {
    load_prometheus, load_runtime,        load_deployment, load_rules,  load_rollback,
    load_records,    load_actuators,      load_api,        load_alerts, load_promotion,
    load_notifiers,  load_cloudwatch_key, load_web_config,
};

}  // namespace

LoadResult load_config_text(const std::string& yaml_text, const std::string& source_name,
                            const actuators::Registry& registry, const notifiers::Registry& notifier_registry,
                            const notifiers::Environment& notifier_env, const Env& world, const LoadOptions& options) {
  LoadResult result;
  std::optional<YAML::Node> root = read_document(yaml_text, result.errors);
  if (!root) return result;

  LoadedConfig loaded;
  loaded.config.source_path = source_name;
  MapReader top(*root, "", 1, result.errors);
  LoadContext context{top, loaded,   loaded.config,     result.errors, {},    0,
                      {},  registry, notifier_registry, notifier_env,  world, options};
  for (Loader load : kLoaders) load(context);
  validate(context, result.warnings);
  top.finish();  // every top-level key no loader read

  if (result.errors.empty()) result.loaded = std::move(loaded);
  return result;
}

LoadResult load_config_file(const std::string& path, const actuators::Registry& registry,
                            const notifiers::Registry& notifier_registry, const notifiers::Environment& notifier_env,
                            const Env& world, const LoadOptions& options) {
  // Capped and regular files only: `--config /dev/zero` must not read until memory runs out.
  std::string why;
  std::optional<std::string> text = common::read_regular_file(path, common::kMaxConfigFileBytes, &why);
  if (!text) {
    LoadResult r;
    r.errors.push_back(ConfigError{"", 0, "cannot read the config file: " + why});
    return r;
  }
  return load_config_text(*text, path, registry, notifier_registry, notifier_env, world, options);
}

}  // namespace rs::sidecar
