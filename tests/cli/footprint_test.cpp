// What the running binary maps: libcurl (and its thirty libraries) only when a request needs it.
// With an http:// Prometheus the sidecar evaluates through its own HTTP client and never loads
// libcurl (common/http/plain_http.h); the routing itself is unit-tested in tests/common. (The
// resident memory this saves is measured by bench/bench_steady_state, not asserted here.)
#include <gtest/gtest.h>

#include <string>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

std::string maps_of(pid_t pid) { return read_file("/proc/" + std::to_string(pid) + "/maps"); }

TEST(Footprint, TheBinaryDoesNotLinkLibcurl) {
  TempDir dir;
  const std::string readelf_binary = find_binary("readelf");
  ASSERT_FALSE(readelf_binary.empty()) << "readelf (binutils) not installed";
  Process readelf({readelf_binary, "-d", kSidecarBinary}, dir.file("readelf.log"));
  readelf.wait_exit(std::chrono::seconds(20));
  const std::string needed = readelf.log();
  ASSERT_NE(needed.find("NEEDED"), std::string::npos) << needed;
  EXPECT_EQ(needed.find("libcurl"), std::string::npos) << needed;
}

TEST(Footprint, AnHttpPrometheusNeverLoadsLibcurl) {
  TempDir dir;
  FakeHttpServer prometheus;
  prometheus.set_route("/api/v1/query", 200, vector_reply("0.001"));
  const int port = free_port();
  write_file(dir.file("config.yml"), "prometheus: {url: " + prometheus.url() +
                                         "}\nlisten: 127.0.0.1:" + std::to_string(port) +
                                         "\nevaluation_interval: 200ms\n"
                                         "deployment: {name: checkout, stage: prod, strategy: canary}\n"
                                         "rules: [{name: error-rate, query: 'errors', above: 0.05}]\n"
                                         "actuators: [{type: exec, command: [/bin/true]}]\n");
  Process sidecar({kSidecarBinary, "--config", dir.file("config.yml")}, dir.file("sidecar.log"));
  std::string why;
  ASSERT_TRUE(wait_http_ok("http://127.0.0.1:" + std::to_string(port) + "/readyz", std::chrono::seconds(20), &why))
      << why << sidecar.log();
  const std::string maps = maps_of(sidecar.pid());
  EXPECT_NE(maps.find("rollback-sidecar"), std::string::npos);
  EXPECT_EQ(maps.find("libcurl"), std::string::npos) << "libcurl was loaded for plain http://";
  EXPECT_GE(prometheus.seen().size(), 1u);
}

}  // namespace
}  // namespace rs::testing
