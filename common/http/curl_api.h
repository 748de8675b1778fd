// libcurl, loaded when first needed (dlopen of Debian's libcurl.so.4) rather than linked: most
// sidecars only ever send plain http:// requests (plain_http.h), and mapping libcurl with its
// thirty libraries costs more resident memory than the whole sidecar otherwise uses. Only the
// functions the curl transport calls are looked up.
#pragma once

#include <curl/curl.h>

#include <string>

namespace rs {

struct CurlApi {
  CURL* (*easy_init)();
  void (*easy_reset)(CURL*);
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  const char* (*easy_strerror)(CURLcode);
  void (*easy_cleanup)(CURL*);
  CURLM* (*multi_init)();
  CURLMcode (*multi_add_handle)(CURLM*, CURL*);
  CURLMcode (*multi_perform)(CURLM*, int*);
  CURLMcode (*multi_poll)(CURLM*, curl_waitfd[], unsigned int, int, int*);
  CURLMsg* (*multi_info_read)(CURLM*, int*);
  CURLMcode (*multi_remove_handle)(CURLM*, CURL*);
  CURLMcode (*multi_cleanup)(CURLM*);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

// The loaded API with curl_global_init done (once per process, thread-safe), or nullptr and
// *error saying why (libcurl4 not installed, a symbol missing). Loading is tried once.
const CurlApi* curl_api(std::string* error);

}  // namespace rs
