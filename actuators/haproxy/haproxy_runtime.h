// HAProxy runtime API (the "stats socket" CLI) client and the parser for its server state dump.
// Reference: HAProxy 2.6 management guide, section 9.3 ("show servers state", "set weight",
// "set server ... state").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace rs::actuators::haproxy {

// Where the runtime API listens: "host:port" / "[v6]:port" (TCP) or "unix:/path" (unix socket).
struct Address {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string host;  // kTcp: numeric address or a name (resolved on every call)
  int port = 0;      // kTcp
  std::string path;  // kUnix
  std::string text;  // as configured, for messages

  // nullopt and *error set (e.g. "expected host:port or unix:/path") on bad input.
  static std::optional<Address> parse(const std::string& text, std::string* error);
};

// The outcome of one command. Transport failures (refused, timeout, reset) are always worth
// retrying; whether a reply is an error is for the caller to judge (HAProxy has no status codes).
struct Reply {
  bool ok = false;    // connected, sent and read until HAProxy closed the connection
  std::string text;   // the reply when ok
  std::string error;  // what went wrong when !ok ("connection refused", "read timed out after 2s")
};

// Sends one command per connection in non-interactive mode: HAProxy answers and closes the
// connection, which is how the end of the reply is known. Thread-safe (no shared state).
class RuntimeClient {
 public:
  RuntimeClient(Address address, std::chrono::milliseconds connect_timeout, std::chrono::milliseconds read_timeout);

  // Never blocks past min(now + connect_timeout + read_timeout, deadline); never throws.
  // `command` must be a single line without ';' (callers validate names); a newline is added.
  // Replies larger than 1 MiB are an error (a runtime API reply for one backend is tiny).
  Reply command(const std::string& command, std::chrono::steady_clock::time_point deadline) const;

  const Address& address() const { return address_; }

 private:
  Address address_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds read_timeout_;
};

// srv_admin_state bit flags (management guide, "show servers state").
enum AdminFlags : unsigned {
  kForcedMaint = 0x01,      // SRV_ADMF_FMAINT: "set server ... state maint"
  kInheritedMaint = 0x02,   // SRV_ADMF_IMAINT: from a tracked server
  kConfigMaint = 0x04,      // SRV_ADMF_CMAINT: "disabled" in the configuration
  kForcedDrain = 0x08,      // SRV_ADMF_FDRAIN: "set server ... state drain"
  kInheritedDrain = 0x10,   // SRV_ADMF_IDRAIN
  kResolutionMaint = 0x20,  // SRV_ADMF_RMAINT: DNS resolution failure
  kAnyMaint = kForcedMaint | kInheritedMaint | kConfigMaint | kResolutionMaint,
  kAnyDrain = kForcedDrain | kInheritedDrain,
};

// One row of "show servers state <backend>", only the columns the actuator needs.
struct ServerState {
  std::string name;          // srv_name
  int op_state = 0;          // srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping
  unsigned admin_state = 0;  // srv_admin_state, AdminFlags
  long uweight = 0;          // srv_uweight: current (user-visible) weight
  long iweight = 0;          // srv_iweight: initial weight from the configuration
};

// Parses "show servers state" output: a version line, a "# name name ..." header line, then one
// whitespace-separated row per server. Columns are located by the header's names, never by
// position. Returns nullopt with *error set when the text is not such a dump; HAProxy's error
// replies ("Can't find backend.") land here, and *error then quotes them.
std::optional<std::vector<ServerState>> parse_servers_state(const std::string& reply, std::string* error);

// "ready", or the set flags joined by '+' ("forced-maint+forced-drain"), for messages.
std::string describe_admin_state(unsigned admin_state);

// The reply with surrounding whitespace removed and cut to a readable length, for quoting.
std::string quote_reply(const std::string& reply);

}  // namespace rs::actuators::haproxy
