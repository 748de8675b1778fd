// The HTTP/1.x response reader of the plain http:// transport (HttpResponseReader): the bytes a
// server sends, fed whole and then cut into pieces; the outcome must not depend on the cuts.
// The first byte picks the request (HEAD or not), the body limit and the piece size.
#include <cstdlib>

#include "common/http/http_response_reader.h"
#include "fuzz/fuzz_support.h"

namespace {

struct Outcome {
  rs::HttpResponseReader::Progress progress;
  long status;
  std::string body;
  std::string error;
};

Outcome read(const std::string& bytes, bool head, std::size_t max_body, std::size_t piece) {
  rs::HttpResponseReader reader(head, max_body);
  auto progress = rs::HttpResponseReader::Progress::kNeedMore;
  for (std::size_t at = 0; at < bytes.size() && progress == rs::HttpResponseReader::Progress::kNeedMore; at += piece) {
    progress = reader.feed(bytes.data() + at, std::min(piece, bytes.size() - at));
  }
  if (progress == rs::HttpResponseReader::Progress::kNeedMore) progress = reader.closed();
  if (progress == rs::HttpResponseReader::Progress::kFailed && reader.error().empty()) std::abort();
  if (progress == rs::HttpResponseReader::Progress::kComplete) {
    if (reader.status() < 200 || reader.status() > 999) std::abort();
    if (reader.headers().size() > 200) std::abort();
  }
  std::string body = reader.take_body();
  if (body.size() > max_body) std::abort();
  return {progress, reader.status(), std::move(body), reader.error()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool head = data[0] & 1;
  const std::size_t max_body = (data[0] & 2) ? 64 : 1 << 20;
  const std::size_t piece = 1 + (data[0] >> 2);  // 1..64 bytes
  const std::string bytes = rs::fuzz::as_string(data + 1, size - 1);
  const Outcome whole = read(bytes, head, max_body, bytes.size() + 1);
  const Outcome cut = read(bytes, head, max_body, piece);
  // Whether the connection is reusable may differ: fed whole, bytes after the response are seen.
  if (whole.progress != cut.progress || whole.body != cut.body || whole.error != cut.error) std::abort();
  if (whole.progress == rs::HttpResponseReader::Progress::kComplete && whole.status != cut.status) std::abort();
  return 0;
}
