#pragma once
// A Pop3Maildrop in memory for state-machine tests: messages, one password, a lock flag and a
// record of what the server asked for.
#include <string>
#include <vector>

#include "protocol/pop3_server.hpp"

namespace dropcheck::protocol::testing {

class MemoryMaildrop : public Pop3Maildrop {
 public:
  struct Message {
    std::string data;
    std::string uidl;
  };
  std::vector<Message> messages;
  std::string user = "u";
  std::string password = "p";
  bool locked_elsewhere = false;
  Pop3AuthStatus auth_policy = Pop3AuthStatus::ok;  // returned for right credentials
  std::size_t err_on_retr = SIZE_MAX;               // index answered with -ERR
  std::size_t drop_in_retr = SIZE_MAX;              // index dropped after drop_after octets
  std::size_t drop_after = 0;
  bool commit_fails = false;

  // Observed.
  std::vector<Pop3Credentials> auth_calls;
  bool locked = false;
  int releases = 0;
  std::vector<std::size_t> committed;
  bool commit_called = false;

  Pop3AuthResult authenticate(const Pop3Credentials& c) override {
    auth_calls.push_back(c);
    bool good = c.user == user;
    if (c.mechanism == Pop3AuthMechanism::apop)
      good = good && c.apop_digest == apop_digest(c.apop_timestamp, password);
    else
      good = good && c.password == password;
    if (!good) return {Pop3AuthStatus::bad_credentials, ""};
    return {auth_policy, ""};
  }
  Pop3AuthResult lock() override {
    if (locked_elsewhere) return {Pop3AuthStatus::in_use, ""};
    locked = true;
    return {};
  }
  std::size_t message_count() const override { return messages.size(); }
  std::uint64_t message_octets(std::size_t i) const override {
    return pop3_octets(messages.at(i).data);
  }
  std::string message_uidl(std::size_t i) const override { return messages.at(i).uidl; }
  Pop3Retrieval retrieve(std::size_t i, Pop3RetrieveKind) override {
    Pop3Retrieval r;
    if (i == err_on_retr) {
      r.kind = Pop3Retrieval::Kind::error;
      r.error_text = "[SYS/TEMP] cannot read";
      return r;
    }
    r.message = messages.at(i).data;
    if (i == drop_in_retr) {
      r.kind = Pop3Retrieval::Kind::drop;
      r.drop_after = drop_after;
    }
    return r;
  }
  Pop3CommitResult commit(std::span<const std::size_t> deleted) override {
    commit_called = true;
    if (commit_fails) return {false, ""};
    committed.assign(deleted.begin(), deleted.end());
    return {};
  }
  void release() override {
    locked = false;
    ++releases;
  }
};

}  // namespace dropcheck::protocol::testing
