// The haproxy actuator against a real HAProxy 2.6: two in-process backends (stable, canary)
// behind a roundrobin frontend, runtime API on TCP (admin and operator level) and a unix socket.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "actuators/haproxy/haproxy.h"
#include "actuators/haproxy/haproxy_runtime.h"
#include "tests/actuators/test_settings.h"
#include "tests/support/harness.h"

namespace rs::actuators {
namespace {

using namespace std::chrono_literals;
using rs::testing::FakeHttpServer;
using rs::testing::HaproxyServer;
using rs::testing::MapSettings;
using Clock = std::chrono::steady_clock;

class HaproxyActuatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stable_.set_route("/", 200, "stable", 0ms, "text/plain");
    canary_.set_route("/", 200, "canary", 0ms, "text/plain");
    front_port_ = rs::testing::free_port();
    admin_port_ = rs::testing::free_port();
    operator_port_ = rs::testing::free_port();
    unix_socket_ = sockets_.file("admin.sock");
    std::string cfg =
        "global\n"
        "  stats socket ipv4@127.0.0.1:" +
        std::to_string(admin_port_) +
        " level admin\n"
        "  stats socket ipv4@127.0.0.1:" +
        std::to_string(operator_port_) +
        " level operator\n"
        "  stats socket " +
        unix_socket_ +
        " mode 600 level admin\n"
        "defaults\n"
        "  mode http\n"
        "  timeout connect 2s\n"
        "  timeout client 10s\n"
        "  timeout server 10s\n"
        "frontend fe\n"
        "  bind 127.0.0.1:" +
        std::to_string(front_port_) +
        "\n"
        "  default_backend app\n"
        "backend app\n"
        "  balance roundrobin\n"
        "  server stable 127.0.0.1:" +
        std::to_string(stable_.port()) +
        " weight 100\n"
        "  server canary 127.0.0.1:" +
        std::to_string(canary_.port()) + " weight 100\n";
    haproxy_ = std::make_unique<HaproxyServer>(cfg);
    haproxy_->start({front_port_, admin_port_, operator_port_});
  }

  std::string admin(const std::string& command) { return HaproxyServer::runtime_command(admin_port_, command); }

  HaproxyOptions options(const std::string& strategy) {
    HaproxyOptions o;
    std::string error;
    o.address = *haproxy::Address::parse("127.0.0.1:" + std::to_string(admin_port_), &error);
    o.backend = "app";
    o.canary = "canary";
    o.stable = "stable";
    o.strategy = strategy;
    return o;
  }

  static Clock::time_point in(std::chrono::milliseconds d) { return Clock::now() + d; }

  haproxy::ServerState server(const std::string& name) {
    std::string error;
    auto rows = haproxy::parse_servers_state(admin("show servers state app"), &error);
    EXPECT_TRUE(rows) << error;
    if (rows)
      for (const auto& r : *rows)
        if (r.name == name) return r;
    ADD_FAILURE() << "server " << name << " not in the state dump";
    return {};
  }

  // Sends n requests through HAProxy; returns how many reached {stable, canary}.
  std::pair<size_t, size_t> send_requests(int n) {
    size_t stable_before = stable_.seen().size(), canary_before = canary_.seen().size();
    for (int i = 0; i < n; ++i) {
      auto r = rs::testing::http_get("http://127.0.0.1:" + std::to_string(front_port_) + "/");
      EXPECT_EQ(r.status, 200) << r.error << " " << r.body << "\n" << haproxy_->log();
    }
    return {stable_.seen().size() - stable_before, canary_.seen().size() - canary_before};
  }

  // Backends are declared first so they outlive HAProxy (which holds keep-alive connections).
  FakeHttpServer stable_, canary_;
  rs::testing::TempDir sockets_;
  std::string unix_socket_;
  int front_port_ = 0, admin_port_ = 0, operator_port_ = 0;
  std::unique_ptr<HaproxyServer> haproxy_;
  DecisionContext context_{"checkout", "prod", "canary", "rule", "error-rate", "0.31", "0.05", "error rate high"};
};

TEST_F(HaproxyActuatorTest, CanaryRollbackSetsWeightZeroAndNoTrafficReachesCanary) {
  auto [s0, c0] = send_requests(10);
  ASSERT_GT(c0, 0u) << "roundrobin should reach the canary before the rollback";
  ASSERT_GT(s0, 0u);

  HaproxyActuator actuator(options("canary"));
  ActResult r = actuator.rollback(context_, in(5s));
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged) << r.detail;
  EXPECT_NE(r.detail.find("set weight app/canary 0"), std::string::npos) << r.detail;

  EXPECT_EQ(admin("get weight app/canary"), "0 (initial 100)\n\n");
  EXPECT_EQ(admin("get weight app/stable"), "100 (initial 100)\n\n");
  auto [s, c] = send_requests(40);
  EXPECT_EQ(c, 0u) << "requests reached the canary after the rollback";
  EXPECT_EQ(s, 40u);
}

TEST_F(HaproxyActuatorTest, BlueGreenFlipPutsCanaryInMaintAndStableReadyWithInitialWeight) {
  // Blue/green before the rollback: the new colour (canary) serves, the old one is parked.
  ASSERT_EQ(admin("set server app/stable state maint"), "\n");
  ASSERT_EQ(admin("set weight app/stable 0"), "\n");
  auto [s0, c0] = send_requests(5);
  ASSERT_EQ(s0, 0u);
  ASSERT_EQ(c0, 5u);

  HaproxyActuator actuator(options("blue-green"));
  ActResult r = actuator.rollback(context_, in(5s));
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged) << r.detail;

  auto canary = server("canary");
  auto stable = server("stable");
  EXPECT_TRUE(canary.admin_state & haproxy::kForcedMaint) << canary.admin_state;
  EXPECT_EQ(stable.admin_state & (haproxy::kAnyMaint | haproxy::kAnyDrain), 0u) << stable.admin_state;
  EXPECT_EQ(stable.uweight, 100);
  auto [s, c] = send_requests(40);
  EXPECT_EQ(c, 0u);
  EXPECT_EQ(s, 40u);
}

TEST_F(HaproxyActuatorTest, NoopWhenAlreadyRolledBack) {
  HaproxyActuator actuator(options("canary"));
  ASSERT_EQ(actuator.rollback(context_, in(5s)).change, Change::kChanged);
  ActResult again = actuator.rollback(context_, in(5s));
  ASSERT_TRUE(again.ok) << again.detail;
  EXPECT_EQ(again.change, Change::kNoop) << again.detail;
  EXPECT_NE(again.detail.find("already rolled back"), std::string::npos) << again.detail;

  // Rolled back by someone else (an operator, by hand): also a noop, for blue-green too.
  ASSERT_EQ(admin("set server app/canary state maint"), "\n");
  HaproxyActuator blue_green(options("blue-green"));
  ActResult bg = blue_green.rollback(context_, in(5s));
  ASSERT_TRUE(bg.ok) << bg.detail;
  EXPECT_EQ(bg.change, Change::kNoop) << bg.detail;
}

TEST_F(HaproxyActuatorTest, CanaryStrategyAlsoRestoresAStableLeftAtWeightZero) {
  ASSERT_EQ(admin("set weight app/stable 0"), "\n");
  HaproxyActuator actuator(options("canary"));
  ActResult r = actuator.rollback(context_, in(5s));
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(admin("get weight app/stable"), "100 (initial 100)\n\n");
  EXPECT_EQ(admin("get weight app/canary"), "0 (initial 100)\n\n");
}

TEST_F(HaproxyActuatorTest, ConcurrentRollbacksEndInOneConsistentState) {
  constexpr int kCallers = 4;
  std::vector<ActResult> results(kCallers);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      HaproxyActuator actuator(options("canary"));
      ready++;
      while (ready.load() < kCallers) std::this_thread::yield();
      results[i] = actuator.rollback(context_, in(10s));
    });
  }
  for (auto& t : threads) t.join();
  int changed = 0;
  for (const auto& r : results) {
    EXPECT_TRUE(r.ok) << r.detail;
    changed += r.change == Change::kChanged;
  }
  EXPECT_GE(changed, 1);  // several may report kChanged (documented); the state is what matters
  EXPECT_EQ(admin("get weight app/canary"), "0 (initial 100)\n\n");
  EXPECT_EQ(admin("get weight app/stable"), "100 (initial 100)\n\n");
}

TEST_F(HaproxyActuatorTest, UnreachableHaproxyFailsFastAndRetryable) {
  HaproxyOptions o = options("canary");
  std::string error;
  int dead_port = rs::testing::free_port();  // nothing listens there
  o.address = *haproxy::Address::parse("127.0.0.1:" + std::to_string(dead_port), &error);
  HaproxyActuator actuator(o);
  auto start = Clock::now();
  ActResult r = actuator.rollback(context_, in(5s));
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.retryable);
  EXPECT_NE(r.detail.find("refused"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find(std::to_string(dead_port)), std::string::npos) << r.detail;
}

TEST_F(HaproxyActuatorTest, WrongBackendFailsNonRetryableNamingIt) {
  HaproxyOptions o = options("canary");
  o.backend = "no-such-backend";
  HaproxyActuator actuator(o);
  ActResult r = actuator.rollback(context_, in(5s));
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_NE(r.detail.find("no-such-backend"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("Can't find backend."), std::string::npos) << r.detail;  // quotes HAProxy
  EXPECT_NE(r.detail.find("canary"), std::string::npos) << r.detail;
}

TEST_F(HaproxyActuatorTest, WrongServerFailsNonRetryableNamingIt) {
  HaproxyOptions o = options("canary");
  o.canary = "ghost";
  HaproxyActuator actuator(o);
  ActResult r = actuator.rollback(context_, in(5s));
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_NE(r.detail.find("\"ghost\""), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("backend app"), std::string::npos) << r.detail;
  EXPECT_EQ(admin("get weight app/canary"), "100 (initial 100)\n\n");  // nothing was touched
}

TEST_F(HaproxyActuatorTest, RefusedCommandQuotesHaproxyAndIsNonRetryable) {
  HaproxyOptions o = options("canary");
  std::string error;
  o.address = *haproxy::Address::parse("127.0.0.1:" + std::to_string(operator_port_), &error);
  HaproxyActuator actuator(o);
  ActResult r = actuator.rollback(context_, in(5s));
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_NE(r.detail.find("Permission denied"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("server canary"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("backend app"), std::string::npos) << r.detail;
}

TEST_F(HaproxyActuatorTest, UnixSocketAddressWorks) {
  HaproxyOptions o = options("canary");
  std::string error;
  auto address = haproxy::Address::parse("unix:" + unix_socket_, &error);
  ASSERT_TRUE(address) << error;
  o.address = *address;
  HaproxyActuator actuator(o);
  ActResult probe = actuator.probe(in(5s));
  EXPECT_TRUE(probe.ok) << probe.detail;
  ActResult r = actuator.rollback(context_, in(5s));
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged);
  EXPECT_EQ(admin("get weight app/canary"), "0 (initial 100)\n\n");
}

TEST_F(HaproxyActuatorTest, ProbeChecksReachabilityLevelBackendAndServers) {
  HaproxyActuator good(options("canary"));
  ActResult ok = good.probe(in(5s));
  EXPECT_TRUE(ok.ok) << ok.detail;
  EXPECT_EQ(ok.change, Change::kNoop);
  EXPECT_NE(ok.detail.find("canary weight 100/100"), std::string::npos) << ok.detail;
  EXPECT_EQ(admin("get weight app/canary"), "100 (initial 100)\n\n");  // probe changes nothing

  HaproxyOptions missing = options("canary");
  missing.stable = "old";
  ActResult no_server = HaproxyActuator(missing).probe(in(5s));
  EXPECT_FALSE(no_server.ok);
  EXPECT_FALSE(no_server.retryable);
  EXPECT_NE(no_server.detail.find("\"old\""), std::string::npos) << no_server.detail;

  HaproxyOptions read_only = options("canary");
  std::string error;
  read_only.address = *haproxy::Address::parse("127.0.0.1:" + std::to_string(operator_port_), &error);
  ActResult level = HaproxyActuator(read_only).probe(in(5s));
  EXPECT_FALSE(level.ok);
  EXPECT_NE(level.detail.find("level admin"), std::string::npos) << level.detail;
}

// A listener that never accepts: the kernel completes the handshake, then nobody answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 16);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(HaproxyTimeouts, ReadTimeoutAndDeadlineBoundTheCall) {
  SilentListener silent;
  HaproxyOptions o;
  std::string error;
  o.address = *haproxy::Address::parse("127.0.0.1:" + std::to_string(silent.port()), &error);
  o.backend = "app";
  o.canary = "canary";
  o.stable = "stable";
  o.read_timeout = 300ms;
  DecisionContext ctx;

  auto start = Clock::now();
  ActResult r = HaproxyActuator(o).rollback(ctx, Clock::now() + 10s);
  auto took = Clock::now() - start;
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.retryable);
  EXPECT_NE(r.detail.find("timed out after 300ms"), std::string::npos) << r.detail;
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 3s);

  o.read_timeout = 30s;  // now the deadline is what stops it
  start = Clock::now();
  r = HaproxyActuator(o).rollback(ctx, Clock::now() + 300ms);
  took = Clock::now() - start;
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("deadline"), std::string::npos) << r.detail;
  EXPECT_LT(took, 3s);

  r = HaproxyActuator(o).rollback(ctx, Clock::now() - 1ms);  // already past: no I/O at all
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("deadline"), std::string::npos) << r.detail;
}

TEST(HaproxyValidation, NamesThatWouldSplitACommandAreRefusedBeforeAnyIo) {
  HaproxyOptions o;
  std::string error;
  o.address = *haproxy::Address::parse("127.0.0.1:1", &error);
  o.backend = "app;set weight app/stable 0";
  o.canary = "canary";
  o.stable = "stable";
  HaproxyActuator actuator(o);
  for (const ActResult& r :
       {actuator.rollback(DecisionContext{}, Clock::now() + 5s), actuator.probe(Clock::now() + 5s)}) {
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.retryable);
    EXPECT_NE(r.detail.find("invalid HAProxy name"), std::string::npos) << r.detail;
  }
}

TEST(HaproxyFactory, ReadsSettingsAndReportsConfigErrors) {
  MapSettings good({{"address", "127.0.0.1:9999"},
                    {"backend", "app"},
                    {"canary", "v2"},
                    {"stable", "v1"},
                    {"read_timeout", "500ms"}});
  auto actuator = make_haproxy_actuator(good, Environment{"blue-green"});
  ASSERT_TRUE(actuator);
  EXPECT_TRUE(good.errors.empty()) << good.all_errors();
  EXPECT_EQ(actuator->type(), "haproxy");
  EXPECT_NE(actuator->describe().find("127.0.0.1:9999 backend app"), std::string::npos) << actuator->describe();

  MapSettings bad(
      {{"address", "nowhere"}, {"backend", "a b"}, {"canary", "same"}, {"stable", "same"}, {"connect_timeout", "0s"}});
  make_haproxy_actuator(bad, Environment{"big-bang"});
  std::string all = bad.all_errors();
  EXPECT_NE(all.find("address: \"nowhere\""), std::string::npos) << all;
  EXPECT_NE(all.find("backend: \"a b\""), std::string::npos) << all;
  EXPECT_NE(all.find("canary: canary and stable are the same"), std::string::npos) << all;
  EXPECT_NE(all.find("connect_timeout"), std::string::npos) << all;
  EXPECT_NE(all.find("big-bang"), std::string::npos) << all;

  MapSettings empty;
  make_haproxy_actuator(empty, Environment{"canary"});
  for (const char* key : {"address", "backend", "canary", "stable"})
    EXPECT_NE(empty.all_errors().find(std::string(key) + ": missing"), std::string::npos) << empty.all_errors();
}

}  // namespace
}  // namespace rs::actuators
