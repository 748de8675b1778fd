// GET / rendered by a real headless Chromium against a running sidecar: the DOM shows the
// deployment, its state, every rule against its threshold and the last decision's evidence.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;

std::string chromium() {
  for (const char* name : {"chromium", "chromium-browser"}) {
    std::string path = find_binary(name);
    if (!path.empty()) return path;
  }
  return "";
}

TEST(StatusPage, RendersStateRulesAndDecisionInChromium) {
  const std::string browser = chromium();
  ASSERT_FALSE(browser.empty()) << "chromium is not installed (scripts/install-deps.sh installs it)";
  TempDir dir;
  FakeHttpServer prometheus;
  prometheus.set_route("/api/v1/query", 200, vector_reply("0.0123"));
  write_file(dir.file("token"), "page-token\n");
  write_file(dir.file("rollback.sh"), "#!/bin/sh\nexit 0\n");
  ::chmod(dir.file("rollback.sh").c_str(), 0755);
  const int port = free_port();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  write_file(dir.file("sidecar.yml"), "prometheus: {url: " + prometheus.url() +
                                          "}\n"
                                          "listen: 127.0.0.1:" +
                                          std::to_string(port) +
                                          "\n"
                                          "evaluation_interval: 500ms\n"
                                          "deployment: {name: checkout, stage: prod, strategy: canary}\n"
                                          "rules:\n"
                                          "  - {name: error-rate, query: 'errors_ratio', above: 0.05, for: 1m}\n"
                                          "  - {name: other, query: 'vector(1) # <b>bold</b>', above: 100}\n"
                                          "  - {name: vs-stable, query: canary_ratio, above: 0, baseline: {query: "
                                          "stable_ratio}}\n"
                                          "actuators: [{type: exec, command: [" +
                                          dir.file("rollback.sh") +
                                          "]}]\n"
                                          "api: {bearer_token_file: " +
                                          dir.file("token") + "}\n");
  Process sidecar({kBinary, "--config", dir.file("sidecar.yml")}, dir.file("sidecar.log"));
  std::string why;
  ASSERT_TRUE(wait_http_ok(base + "/readyz", 10s, &why)) << why << sidecar.log();
  ASSERT_EQ(http_request("POST", base + "/api/v1/rollback",
                         R"({"reason":"page test <img src=x onerror=alert(1)>","actor":"ci"})",
                         {"Authorization: Bearer page-token"})
                .status,
            202);
  ASSERT_TRUE(wait_until(
      [&] { return http_get(base + "/api/v1/status").body.find("\"rolled_back\"") != std::string::npos; }, 10s));

  HttpResult page = http_get(base + "/");
  EXPECT_EQ(page.status, 200);
  // The inline chart's SVG namespace is a name, not a fetch; any other URL would be an asset.
  std::string body = page.body;
  for (std::size_t at; (at = body.find("http://www.w3.org/2000/svg")) != std::string::npos;) body.erase(at, 26);
  EXPECT_EQ(body.find("http://"), std::string::npos) << "the page must not load external assets";
  EXPECT_EQ(body.find("https://"), std::string::npos) << "the page must not load external assets";

  const std::vector<std::string> common{browser,
                                        "--headless",
                                        "--no-sandbox",
                                        "--disable-gpu",
                                        "--disable-dev-shm-usage",
                                        "--user-data-dir=" + dir.file("profile"),
                                        "--virtual-time-budget=5000"};
  std::vector<std::string> dump = common;
  dump.insert(dump.end(), {"--dump-dom", base + "/"});
  Process dom_run(dump, dir.file("dom.html"));
  int status = dom_run.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << "chromium did not finish";
  const std::string dom = read_file(dir.file("dom.html"));
  EXPECT_NE(dom.find("data-loaded=\"true\""), std::string::npos) << dom.substr(0, 2000);
  EXPECT_NE(dom.find("<span id=\"deployment\">checkout</span>"), std::string::npos) << dom.substr(0, 2000);
  EXPECT_NE(dom.find("class=\"badge rolled_back\">rolled back</span>"), std::string::npos) << dom.substr(0, 3000);
  EXPECT_NE(dom.find("data-rule=\"error-rate\""), std::string::npos);
  EXPECT_NE(dom.find("<td class=\"num\">0.0123</td>"), std::string::npos) << dom;
  EXPECT_NE(dom.find("<td class=\"num\">&gt; 0.05</td>"), std::string::npos) << dom;
  EXPECT_NE(dom.find("manual rollback by ci: page test"), std::string::npos) << dom;
  // Each rule's recent values as an inline chart: the value's line and the threshold's.
  EXPECT_NE(dom.find("<svg width=\"240\" height=\"48\" viewBox=\"0 0 240 48\" class=\"chart\""), std::string::npos)
      << dom;
  EXPECT_NE(dom.find("class=\"value\" data-series=\"value\" points=\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("<line class=\"threshold\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("<title>error-rate: last "), std::string::npos) << dom;
  // A judged rule shows the judge's own words under its state.
  EXPECT_NE(dom.find("<div class=\"muted evidence\">canary 0.0123 vs baseline 0.0123"), std::string::npos) << dom;
  // Markup in a query or a reason is shown as text, never interpreted.
  EXPECT_NE(dom.find("&lt;b&gt;bold&lt;/b&gt;"), std::string::npos) << dom;
  EXPECT_NE(dom.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos) << dom;
  EXPECT_EQ(dom.find("<img"), std::string::npos) << dom;

  std::vector<std::string> shot = common;
  shot.insert(shot.end(), {"--window-size=1200,900", "--screenshot=" + dir.file("status.png"), base + "/"});
  Process shot_run(shot, dir.file("shot.log"));
  status = shot_run.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << read_file(dir.file("shot.log"));
  const std::string png = read_file(dir.file("status.png"));
  ASSERT_GT(png.size(), 10000u) << "screenshot missing or blank: " << read_file(dir.file("shot.log"));
  EXPECT_EQ(png.substr(1, 3), "PNG");
  if (const char* keep = std::getenv("RS_STATUS_SCREENSHOT")) write_file(keep, png);
}

}  // namespace
}  // namespace rs::testing
