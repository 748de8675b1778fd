// The actuator registry: built-ins, lookup by type name, duplicate registration.
#include <gtest/gtest.h>

#include <stdexcept>

#include "actuators/actuator.h"
#include "tests/actuators/test_settings.h"

namespace rs::actuators {
namespace {

using rs::testing::MapSettings;

TEST(Registry, BuiltinHasEveryActuatorSorted) {
  const Registry& r = Registry::builtin();
  EXPECT_EQ(r.known_types(),
            (std::vector<std::string>{"argo-rollout", "aws-alb", "aws-codedeploy", "aws-ecs", "aws-lambda-alias",
                                      "exec", "file", "gateway-httproute", "haproxy", "kubernetes-scale",
                                      "kubernetes-service", "nginx", "webhook"}));
  EXPECT_TRUE(r.contains("haproxy"));
  EXPECT_TRUE(r.contains("exec"));
  EXPECT_FALSE(r.contains("f5"));
  EXPECT_EQ(&Registry::builtin(), &r);  // one instance
}

TEST(Registry, CreatesByTypeAndReturnsNullForUnknown) {
  MapSettings haproxy(
      {{"address", "unix:/run/haproxy/admin.sock"}, {"backend", "app"}, {"canary", "canary"}, {"stable", "stable"}});
  auto a = Registry::builtin().create("haproxy", haproxy, Environment{"canary"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->type(), "haproxy");
  EXPECT_TRUE(haproxy.errors.empty()) << haproxy.all_errors();

  MapSettings exec({{"command", MapSettings::List{"/bin/true"}}});
  auto e = Registry::builtin().create("exec", exec, Environment{"canary"});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type(), "exec");

  MapSettings none;
  EXPECT_EQ(Registry::builtin().create("f5", none, Environment{"canary"}), nullptr);
  EXPECT_TRUE(none.errors.empty());  // reporting the unknown type is the caller's job
}

TEST(Registry, DuplicateAddThrowsAndKnownTypesAreSorted) {
  Registry r;
  Factory null_factory = [](Settings&, const Environment&) { return std::unique_ptr<Actuator>(); };
  r.add("zeta", null_factory);
  r.add("alpha", null_factory);
  r.add("mid", null_factory);
  EXPECT_EQ(r.known_types(), (std::vector<std::string>{"alpha", "mid", "zeta"}));
  EXPECT_THROW(r.add("mid", null_factory), std::logic_error);
  EXPECT_THROW(r.add("", null_factory), std::logic_error);
  EXPECT_THROW(r.add("empty", Factory{}), std::logic_error);
  EXPECT_EQ(r.known_types().size(), 3u);
}

// The types that can set weights are declared at registration, and agree with the instances.
TEST(Registry, DeclaresTheTypesThatSetWeights) {
  const Registry& r = Registry::builtin();
  EXPECT_EQ(r.weight_types(), (std::vector<std::string>{"aws-alb", "aws-lambda-alias (with canary)", "file",
                                                        "gateway-httproute", "haproxy", "nginx", "webhook"}));
  MapSettings haproxy(
      {{"address", "unix:/run/haproxy/admin.sock"}, {"backend", "app"}, {"canary", "canary"}, {"stable", "stable"}});
  EXPECT_EQ(r.create("haproxy", haproxy, Environment{"canary"})->supports_weights(), r.declares_weights("haproxy"));
  MapSettings exec({{"command", MapSettings::List{"/bin/true"}}});
  EXPECT_EQ(r.create("exec", exec, Environment{"canary"})->supports_weights(), r.declares_weights("exec"));
  Registry empty;
  EXPECT_THROW(empty.declare_weights("haproxy"), std::logic_error);
}

}  // namespace
}  // namespace rs::actuators
