#include "common/http/http_transport.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "common/http/curl_api.h"
#include "common/secret_file.h"

namespace rs {
namespace {

using Clock = std::chrono::steady_clock;

// The loaded libcurl; only called once a CurlTransport found it loaded (curl_api() caches).
const CurlApi& api() { return *curl_api(nullptr); }

// "http://user:secret@host/x" → "http://host/x": URLs appear in error messages.
std::string redact_userinfo(const std::string& url) {
  auto scheme_end = url.find("://");
  std::size_t host_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  auto path_start = url.find_first_of("/?#", host_start);
  auto at = url.rfind('@', path_start == std::string::npos ? std::string::npos : path_start);
  if (at == std::string::npos || at < host_start) return url;
  return url.substr(0, host_start) + url.substr(at + 1);
}

TransportError classify(CURLcode code, bool oversize) {
  if (oversize) return TransportError::kOversize;
  switch (code) {
    case CURLE_OK: return TransportError::kNone;
    case CURLE_OPERATION_TIMEDOUT: return TransportError::kTimeout;
    case CURLE_FILESIZE_EXCEEDED: return TransportError::kOversize;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE: return TransportError::kConnect;
    default: return TransportError::kOther;
  }
}

// One in-flight request: owns everything curl points into until the transfer completes.
struct Transfer {
  const HttpRequest* request = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  bool oversize = false;
  bool done = false;  // curl reported completion (finish() ran)
  char error_buffer[CURL_ERROR_SIZE] = {0};
  Clock::time_point started;
  HttpResponse response;

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() {
    if (headers) api().slist_free_all(headers);
  }
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t bytes = size * count;
  if (transfer->body.size() + bytes > transfer->request->max_body_bytes) {
    transfer->oversize = true;
    return 0;  // anything but `bytes` aborts the transfer (CURLE_WRITE_ERROR)
  }
  transfer->body.append(data, bytes);
  return bytes;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t bytes = size * count;
  std::string line(data, bytes);
  if (line.rfind("HTTP/", 0) == 0) {
    transfer->response.headers.clear();  // a new response (e.g. after 100 Continue)
    return bytes;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos) return bytes;
  auto value_start = line.find_first_not_of(" \t", colon + 1);
  auto value_end = line.find_last_not_of("\r\n \t");
  std::string value = value_start == std::string::npos || value_end < value_start
                          ? ""
                          : line.substr(value_start, value_end - value_start + 1);
  if (transfer->response.headers.size() < 200) transfer->response.headers.emplace_back(line.substr(0, colon), value);
  return bytes;
}

void set_method(CURL* easy, const HttpRequest& request) {
  if (request.method == "GET" && request.body.empty()) {
    api().easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    return;
  }
  // POSTFIELDS does not copy; Transfer keeps `request` alive for the whole transfer.
  api().easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  api().easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.c_str());
  if (request.method != "POST") api().easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
}

void set_tls(CURL* easy, const TlsOptions& tls) {
  if (!tls.ca_file.empty()) api().easy_setopt(easy, CURLOPT_CAINFO, tls.ca_file.c_str());
  if (!tls.cert_file.empty()) api().easy_setopt(easy, CURLOPT_SSLCERT, tls.cert_file.c_str());
  if (!tls.key_file.empty()) api().easy_setopt(easy, CURLOPT_SSLKEY, tls.key_file.c_str());
  // CURL_BLOB_COPY: curl keeps its own copy, the request may go away before the handle is reused.
  auto set_blob = [easy](CURLoption option, const std::string& pem) {
    if (pem.empty()) return;
    curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
    api().easy_setopt(easy, option, &blob);
  };
  set_blob(CURLOPT_CAINFO_BLOB, tls.ca_pem);
  set_blob(CURLOPT_SSLCERT_BLOB, tls.cert_pem);
  set_blob(CURLOPT_SSLKEY_BLOB, tls.key_pem);
  if (!tls.cert_pem.empty()) api().easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
  if (!tls.key_pem.empty()) api().easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
  if (tls.insecure_skip_verify) {
    api().easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    api().easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

void configure(Transfer* t) {
  const HttpRequest& request = *t->request;
  CURL* easy = t->easy;
  api().easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  api().easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM-based timeouts in a threaded daemon
  // curl reads 0 as "no limit"; a request must always be bounded.
  long timeout_ms = std::max<long>(1, static_cast<long>(request.timeout.count()));
  api().easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  api().easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  api().easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error_buffer);
  api().easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  api().easy_setopt(easy, CURLOPT_WRITEDATA, t);
  api().easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  api().easy_setopt(easy, CURLOPT_HEADERDATA, t);
  // Fails fast when Content-Length already says too much; on_body covers chunked bodies.
  api().easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(request.max_body_bytes));
  api().easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // whatever this libcurl can decode
  api().easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  set_method(easy, request);
  set_tls(easy, request.tls);
  if (request.basic_auth) {
    api().easy_setopt(easy, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    api().easy_setopt(easy, CURLOPT_USERNAME, request.basic_auth->first.c_str());
    api().easy_setopt(easy, CURLOPT_PASSWORD, request.basic_auth->second.c_str());
  } else if (request.sigv4) {
    // curl signs Host, X-Amz-Date, the payload hash and the headers added below.
    api().easy_setopt(easy, CURLOPT_AWS_SIGV4, request.sigv4->provider.c_str());
    api().easy_setopt(easy, CURLOPT_USERNAME, request.sigv4->access_key.c_str());
    api().easy_setopt(easy, CURLOPT_PASSWORD, request.sigv4->secret_key.c_str());
  }
  for (const auto& [name, value] : request.headers) {
    // "Name:" alone would make curl drop the header; "Name;" is its spelling of an empty one.
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    t->headers = api().slist_append(t->headers, line.c_str());
  }
  // curl would otherwise wait up to 1 s for "100 Continue" on larger POST bodies. With SigV4,
  // curl 7.88 would sign the removed header as an empty "expect" (which no server sees, so AWS
  // refuses the signature): keep curl's Expect then, and shorten its wait instead.
  if (request.sigv4) {
    api().easy_setopt(easy, CURLOPT_EXPECT_100_TIMEOUT_MS, 100L);
  } else {
    t->headers = api().slist_append(t->headers, "Expect:");
  }
  api().easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
}

std::string describe_failure(const Transfer& t, CURLcode code, TransportError error) {
  const HttpRequest& request = *t.request;
  std::string what;
  if (error == TransportError::kOversize) {
    what = "response body exceeds " + std::to_string(request.max_body_bytes) + " bytes";
  } else {
    what = t.error_buffer[0] ? t.error_buffer : api().easy_strerror(code);
  }
  std::string message = request.method + " " + redact_userinfo(request.url) + ": " + what;
  if (request.basic_auth) common::redact(&message, request.basic_auth->second);
  if (request.sigv4) common::redact(&message, request.sigv4->secret_key);
  return message;
}

void finish(Transfer* t, CURLcode code) {
  HttpResponse& response = t->response;
  t->done = true;
  response.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t->started);
  long new_connections = 0;
  api().easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &new_connections);
  response.connection_reused = code == CURLE_OK && new_connections == 0;
  response.error = classify(code, t->oversize);
  if (response.error != TransportError::kNone) {
    response.error_message = describe_failure(*t, code, response.error);
    return;
  }
  api().easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &response.status);
  response.body = std::move(t->body);
}

class CurlTransport final : public HttpTransport {
 public:
  CurlTransport() {
    if (curl_api(&load_error_)) multi_ = api().multi_init();
  }
  ~CurlTransport() override {
    if (!multi_) return;
    for (CURL* easy : idle_) api().easy_cleanup(easy);
    api().multi_cleanup(multi_);
  }
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& requests) override {
    std::vector<Transfer> transfers(requests.size());
    try {
      start_all(requests, &transfers);
      run_until_done();
    } catch (...) {
      // Only std::bad_alloc can get here; unfinished requests are reported as failed below.
    }
    return collect(&transfers);
  }

 private:
  CURL* acquire_easy() {
    if (idle_.empty()) return api().easy_init();
    CURL* easy = idle_.back();
    idle_.pop_back();
    api().easy_reset(easy);  // options only; live connections stay in the multi's cache
    return easy;
  }

  void start_all(const std::vector<HttpRequest>& requests, std::vector<Transfer>* transfers) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      Transfer& t = (*transfers)[i];
      t.request = &requests[i];
      t.started = Clock::now();
      t.easy = multi_ ? acquire_easy() : nullptr;
      if (!t.easy) continue;
      configure(&t);
      api().easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
      api().multi_add_handle(multi_, t.easy);
    }
  }

  void run_until_done() {
    int running = 0;
    do {
      if (api().multi_perform(multi_, &running) != CURLM_OK) break;
      drain_completed();
      if (running > 0) api().multi_poll(multi_, nullptr, 0, 200, nullptr);
    } while (running > 0);
    drain_completed();
  }

  void drain_completed() {
    int queued = 0;
    while (CURLMsg* msg = api().multi_info_read(multi_, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      api().easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      CURLcode code = msg->data.result;  // read before removing: msg is invalidated
      if (t) finish(t, code);
    }
  }

  std::vector<HttpResponse> collect(std::vector<Transfer>* transfers) {
    std::vector<HttpResponse> responses;
    responses.reserve(transfers->size());
    for (Transfer& t : *transfers) {
      if (t.easy) {
        api().multi_remove_handle(multi_, t.easy);
        idle_.push_back(t.easy);
      }
      if (!t.done) {
        t.response.error = TransportError::kOther;
        t.response.error_message = (t.request ? "request to " + redact_userinfo(t.request->url) + " could not be run"
                                              : "request could not be run") +
                                   (load_error_.empty() ? "" : ": " + load_error_);
      }
      responses.push_back(std::move(t.response));
    }
    return responses;
  }

  std::string load_error_;  // why libcurl could not be loaded
  CURLM* multi_ = nullptr;
  std::vector<CURL*> idle_;  // easy handles reused across batches
};

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string wanted = lower(name);
  for (const auto& [n, v] : headers)
    if (lower(n) == wanted) return v;
  return "";
}

const char* transport_error_name(TransportError e) {
  switch (e) {
    case TransportError::kNone: return "none";
    case TransportError::kTimeout: return "timeout";
    case TransportError::kConnect: return "connect";
    case TransportError::kOversize: return "oversize";
    case TransportError::kOther: return "other";
  }
  return "unknown";
}

std::unique_ptr<HttpTransport> make_curl_transport() { return std::make_unique<CurlTransport>(); }

}  // namespace rs
