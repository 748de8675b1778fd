#include "common/http/curl_api.h"

#include <dlfcn.h>

#include <mutex>

namespace rs {
namespace {

struct Loaded {
  CurlApi api{};
  bool ok = false;
  std::string error;
};

template <typename F>
bool find(void* lib, const char* name, F* out, std::string* error) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  if (!*out) *error = std::string("libcurl.so.4 has no ") + name;
  return *out != nullptr;
}

Loaded load() {
  Loaded l;
  // RTLD_NODELETE: handles outlive any one transport; the library stays for the process.
  void* lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!lib) {
    const char* why = dlerror();
    l.error = std::string(
                  "cannot load libcurl.so.4 (needed for https, TLS options, SigV4 and proxies; Debian "
                  "package libcurl4): ") +
              (why ? why : "unknown error");
    return l;
  }
  CurlApi& a = l.api;
  CURLcode (*global_init)(long) = nullptr;
  std::string& e = l.error;
  l.ok = find(lib, "curl_global_init", &global_init, &e) && find(lib, "curl_easy_init", &a.easy_init, &e) &&
         find(lib, "curl_easy_reset", &a.easy_reset, &e) && find(lib, "curl_easy_setopt", &a.easy_setopt, &e) &&
         find(lib, "curl_easy_getinfo", &a.easy_getinfo, &e) && find(lib, "curl_easy_strerror", &a.easy_strerror, &e) &&
         find(lib, "curl_easy_cleanup", &a.easy_cleanup, &e) && find(lib, "curl_multi_init", &a.multi_init, &e) &&
         find(lib, "curl_multi_add_handle", &a.multi_add_handle, &e) &&
         find(lib, "curl_multi_perform", &a.multi_perform, &e) && find(lib, "curl_multi_poll", &a.multi_poll, &e) &&
         find(lib, "curl_multi_info_read", &a.multi_info_read, &e) &&
         find(lib, "curl_multi_remove_handle", &a.multi_remove_handle, &e) &&
         find(lib, "curl_multi_cleanup", &a.multi_cleanup, &e) && find(lib, "curl_slist_append", &a.slist_append, &e) &&
         find(lib, "curl_slist_free_all", &a.slist_free_all, &e);
  if (l.ok && global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    l.ok = false;
    l.error = "curl_global_init failed";
  }
  return l;
}

}  // namespace

const CurlApi* curl_api(std::string* error) {
  static std::once_flag once;
  static Loaded loaded;
  std::call_once(once, [] { loaded = load(); });
  if (!loaded.ok) {
    if (error) *error = loaded.error;
    return nullptr;
  }
  return &loaded.api;
}

}  // namespace rs
