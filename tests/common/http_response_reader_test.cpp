// HttpResponseReader on its own: framing, limits, and that the outcome does not depend on how
// the bytes are cut into reads (the transport's wire tests cover it behind real sockets).
#include "common/http/http_response_reader.h"

#include <gtest/gtest.h>

namespace rs {
namespace {

using Progress = HttpResponseReader::Progress;

struct Read {
  Progress progress;
  long status;
  std::string body;
  std::string error;
  TransportError kind;
};

Read read(const std::string& bytes, std::size_t piece, bool close_at_end = true, bool head = false,
          std::size_t max_body = 1 << 20) {
  HttpResponseReader reader(head, max_body);
  Progress p = Progress::kNeedMore;
  for (std::size_t at = 0; at < bytes.size() && p == Progress::kNeedMore; at += piece) {
    p = reader.feed(bytes.data() + at, std::min(piece, bytes.size() - at));
  }
  if (p == Progress::kNeedMore && close_at_end) p = reader.closed();
  return {p, reader.status(), reader.take_body(), reader.error(), reader.error_kind()};
}

TEST(HttpResponseReader, TheOutcomeDoesNotDependOnHowTheBytesAreCut) {
  const std::vector<std::string> responses = {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;x=1\r\nhello\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n",
      "HTTP/1.0 200 OK\r\n\r\nuntil close",
      "HTTP/1.1 204 No Content\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
      "SSH-2.0-OpenSSH_9.2\r\n\r\n",
  };
  for (const auto& bytes : responses) {
    const Read whole = read(bytes, bytes.size());
    for (std::size_t piece = 1; piece <= bytes.size(); ++piece) {
      const Read cut = read(bytes, piece);
      ASSERT_EQ(cut.progress, whole.progress) << bytes << " in pieces of " << piece;
      EXPECT_EQ(cut.body, whole.body) << bytes << " in pieces of " << piece;
      EXPECT_EQ(cut.error, whole.error) << bytes << " in pieces of " << piece;
    }
  }
  EXPECT_EQ(read(responses[1], 3).body, "hello!");
  EXPECT_EQ(read(responses[2], 3).body, "until close");
  EXPECT_EQ(read(responses[4], 1).error, "bad chunked encoding (chunk size)");
  EXPECT_EQ(read(responses[5], 2).error, "connection closed before the response was complete");
  EXPECT_EQ(read(responses[6], 2).error, "not an HTTP/1.x response");
  EXPECT_EQ(read("", 1).error, "empty reply from server");
}

TEST(HttpResponseReader, HeadsOver64KiBFailAtTheSameLimitWhateverTheCuts) {
  auto response_with_head_of = [](std::size_t head_bytes) {
    std::string head = "HTTP/1.1 200 OK\r\nX-Pad: ";
    head += std::string(head_bytes - head.size() - 4, 'a');
    return head + "\r\n\r\n" + "body";
  };
  for (std::size_t piece : {std::size_t{1}, std::size_t{1000}, std::size_t{1} << 20}) {
    EXPECT_EQ(read(response_with_head_of(65536), piece).progress, Progress::kComplete) << piece;
    const Read over = read(response_with_head_of(65537), piece);
    EXPECT_EQ(over.progress, Progress::kFailed) << piece;
    EXPECT_EQ(over.error, "response headers exceed 65536 bytes");
  }
}

TEST(HttpResponseReader, ChunkLinesAreBoundedAndChunksOverTheBodyLimitAreRefusedBeforeTheirData) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string long_extension = "1;" + std::string(4095, 'e') + "\r\nx\r\n0\r\n\r\n";
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{1} << 20}) {
    EXPECT_EQ(read(head + "1;" + std::string(4094, 'e') + "\r\nx\r\n0\r\n\r\n", piece).body, "x");
    EXPECT_EQ(read(head + long_extension, piece).error, "bad chunked encoding (a line over 4096 bytes)");
  }
  const Read big = read(head + "100000\r\n", 9, /*close_at_end=*/false, false, /*max_body=*/1000);
  EXPECT_EQ(big.progress, Progress::kFailed);
  EXPECT_EQ(big.kind, TransportError::kOversize);
  EXPECT_EQ(read(head + "ffffffffffffffffff\r\n", 5).error, "bad chunked encoding (chunk size)");
}

TEST(HttpResponseReader, ContentLengthMustBeOneDecimalNumber) {
  for (const char* length : {"-1", "12abc", "", "99999999999999999999999"}) {
    const Read r = read(std::string("HTTP/1.1 200 OK\r\nContent-Length: ") + length + "\r\n\r\n", 4);
    EXPECT_EQ(r.error, "bad Content-Length") << length;
  }
  EXPECT_EQ(read("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 4).error,
            "bad Content-Length");
  EXPECT_EQ(read("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 4).body, "abc");
  EXPECT_EQ(read("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd", 4, false, false, 3).kind,
            TransportError::kOversize);
  EXPECT_EQ(read("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", 4, false, /*head=*/true).progress,
            Progress::kComplete);
}

TEST(HttpResponseReader, StatusLinesNeedThreeDigits) {
  EXPECT_EQ(read("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 3).status, 200);
  for (const char* line : {"HTTP/1.1 20x OK", "HTTP/1.1 2000 OK", "HTTP/1.1 099 Low", "HTTP/1.1 -20 OK"}) {
    EXPECT_EQ(read(std::string(line) + "\r\n\r\n", 3).error, "bad HTTP status line") << line;
  }
}

TEST(HttpResponseReader, ALongDripOfOneByteAtATimeIsReadOnce) {
  // 60 000 single-byte reads of a head: each read looks at the new byte (and the 3 before it),
  // not at everything received so far.
  std::string bytes = "HTTP/1.1 200 OK\r\n";
  while (bytes.size() < 60000) bytes += "X-Header-" + std::to_string(bytes.size()) + ": v\r\n";
  bytes += "Content-Length: 2\r\n\r\nok";
  const Read r = read(bytes, 1);
  EXPECT_EQ(r.progress, Progress::kComplete);
  EXPECT_EQ(r.body, "ok");
}

}  // namespace
}  // namespace rs
