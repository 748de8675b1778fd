// Throwaway certificates (the openssl CLI) and an HTTPS client (libcurl) for the TLS tests of the
// listen port: a CA, leaf certificates it signs (server: SAN IP:127.0.0.1), client certificates.
#pragma once

#include <curl/curl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace rs::testing {

inline void run_openssl(const TempDir& dir, std::vector<std::string> args) {
  const std::string openssl = find_binary("openssl");
  if (openssl.empty()) throw std::runtime_error("openssl not installed (scripts/install-deps.sh installs it)");
  args.insert(args.begin(), openssl);
  Process p(args, dir.file("openssl.log"));
  const int status = p.wait_exit(std::chrono::seconds(30));
  if (status != 0) throw std::runtime_error("openssl failed: " + read_file(dir.file("openssl.log")));
}

// <name>.crt / <name>.key: a self-signed CA.
inline void make_ca(const TempDir& dir, const std::string& name) {
  run_openssl(dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=" + name, "-keyout", dir.file(name + ".key"), "-out", dir.file(name + ".crt")});
}

// <name>.crt / <name>.key signed by CA <ca>, with the given serial; valid for 127.0.0.1 as a
// server and usable as a client certificate.
inline void make_leaf(const TempDir& dir, const std::string& ca, const std::string& name, int serial) {
  write_file(dir.file(name + ".ext"),
             "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
             "extendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n");
  run_openssl(dir, {"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                    "/CN=" + name, "-keyout", dir.file(name + ".key"), "-out", dir.file(name + ".csr")});
  run_openssl(dir, {"x509", "-req", "-in", dir.file(name + ".csr"), "-CA", dir.file(ca + ".crt"), "-CAkey",
                    dir.file(ca + ".key"), "-set_serial", std::to_string(serial), "-days", "2", "-extfile",
                    dir.file(name + ".ext"), "-out", dir.file(name + ".crt")});
}

struct TlsRequest {
  std::string url;
  std::string ca_file;                         // verifies the server
  std::string cert_file, key_file;             // client certificate ("" = none)
  long ssl_version = CURL_SSLVERSION_DEFAULT;  // e.g. CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2
  std::string userpwd;                         // "user:password" for Basic auth
  std::vector<std::string> headers;
  std::string method = "GET";
  std::string body;
};

struct TlsResult {
  long status = 0;  // 0: no HTTP answer (handshake or transport failure, see error)
  std::string body;
  std::string error;
  std::string server_subject;  // of the server's leaf certificate
  std::string server_serial;
};

inline std::size_t tls_collect(char* p, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

inline TlsResult tls_request(const TlsRequest& r) {
  TlsResult result;
  CURL* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  for (const auto& h : r.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, r.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(r.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CAINFO, r.ca_file.c_str());
  if (!r.cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, r.cert_file.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, r.key_file.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, r.ssl_version);
  if (!r.userpwd.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERPWD, r.userpwd.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, tls_collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  const CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    result.error = curl_easy_strerror(rc);
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
    curl_certinfo* info = nullptr;
    if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info) == CURLE_OK && info && info->num_of_certs > 0) {
      for (curl_slist* s = info->certinfo[0]; s; s = s->next) {
        const std::string line = s->data;
        if (line.rfind("Subject:", 0) == 0) result.server_subject = line.substr(8);
        if (line.rfind("Serial Number:", 0) == 0) result.server_serial = line.substr(14);
      }
    }
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result;
}

}  // namespace rs::testing
