// Parsing of runtime API replies and addresses (no HAProxy needed).
#include <gtest/gtest.h>

#include "actuators/haproxy/haproxy_runtime.h"

namespace rs::actuators::haproxy {
namespace {

TEST(ServersStateParser, FindsColumnsByHeaderName) {
  // Real 2.6 output shape, but with columns shuffled and an extra one: positions must not matter.
  const std::string dump =
      "1\n"
      "# srv_uweight be_id srv_admin_state srv_name future_col srv_iweight srv_op_state\n"
      "0 3 1 canary x 50 0\n"
      "# a comment\n"
      "100 3 0 stable y 100 2\n"
      "\n";
  std::string error;
  auto rows = parse_servers_state(dump, &error);
  ASSERT_TRUE(rows) << error;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].name, "canary");
  EXPECT_EQ((*rows)[0].uweight, 0);
  EXPECT_EQ((*rows)[0].iweight, 50);
  EXPECT_EQ((*rows)[0].admin_state, 1u);
  EXPECT_EQ((*rows)[0].op_state, 0);
  EXPECT_EQ((*rows)[1].name, "stable");
  EXPECT_EQ((*rows)[1].uweight, 100);
  EXPECT_EQ((*rows)[1].op_state, 2);
}

TEST(ServersStateParser, ErrorRepliesAndMalformedDumpsAreErrors) {
  std::string error;
  EXPECT_FALSE(parse_servers_state("Can't find backend.\n\n", &error));
  EXPECT_NE(error.find("\"Can't find backend.\""), std::string::npos) << error;

  EXPECT_FALSE(parse_servers_state("", &error));
  EXPECT_FALSE(parse_servers_state("1\n# srv_name srv_op_state srv_admin_state srv_uweight\n", &error));
  EXPECT_NE(error.find("srv_iweight"), std::string::npos) << error;
  EXPECT_FALSE(parse_servers_state(
      "1\n# srv_name srv_op_state srv_admin_state srv_uweight srv_iweight\nstable 2 0 100\n", &error));
  EXPECT_NE(error.find("fields"), std::string::npos) << error;
  EXPECT_FALSE(parse_servers_state(
      "1\n# srv_name srv_op_state srv_admin_state srv_uweight srv_iweight\nstable 2 0 heavy 100\n", &error));
  EXPECT_NE(error.find("non-numeric"), std::string::npos) << error;

  auto empty = parse_servers_state("1\n# srv_name srv_op_state srv_admin_state srv_uweight srv_iweight\n", &error);
  ASSERT_TRUE(empty) << error;  // a backend without servers is a valid dump
  EXPECT_TRUE(empty->empty());
}

TEST(RuntimeAddress, ParsesTcpUnixAndRejectsGarbage) {
  std::string error;
  auto tcp = Address::parse("127.0.0.1:9999", &error);
  ASSERT_TRUE(tcp) << error;
  EXPECT_EQ(tcp->kind, Address::Kind::kTcp);
  EXPECT_EQ(tcp->host, "127.0.0.1");
  EXPECT_EQ(tcp->port, 9999);

  auto name = Address::parse("haproxy:9999", &error);
  ASSERT_TRUE(name) << error;
  EXPECT_EQ(name->host, "haproxy");

  auto v6 = Address::parse("[::1]:8404", &error);
  ASSERT_TRUE(v6) << error;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8404);

  auto unix_socket = Address::parse("unix:/run/haproxy/admin.sock", &error);
  ASSERT_TRUE(unix_socket) << error;
  EXPECT_EQ(unix_socket->kind, Address::Kind::kUnix);
  EXPECT_EQ(unix_socket->path, "/run/haproxy/admin.sock");

  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", ":9999", "host:0", "host:70000", "host:12x", "unix:", "::1:9999", "[::1]9999"}) {
    error.clear();
    EXPECT_FALSE(Address::parse(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(RuntimeText, AdminStateAndReplyQuoting) {
  EXPECT_EQ(describe_admin_state(0), "ready");
  EXPECT_EQ(describe_admin_state(0x40), "ready");  // HMAINT only says the FQDN was set
  EXPECT_EQ(describe_admin_state(0x09), "forced-maint+forced-drain");
  EXPECT_EQ(quote_reply("No such server.\n\n"), "No such server.");
  EXPECT_EQ(quote_reply("a\nb\n"), "a | b");
  EXPECT_EQ(quote_reply(std::string(500, 'x')).size(), 203u);
}

}  // namespace
}  // namespace rs::actuators::haproxy
