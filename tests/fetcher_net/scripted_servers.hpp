#pragma once
// Scripted peers for the fetcher core's hostile-provider tests: a POP3 maildrop whose
// misbehaviours are switches, and an SMTP receiver whose replies per recipient are a function.
// Each runs in its own thread on 127.0.0.1:0 with blocking sockets, serves a bounded number of
// sessions, and is stopped (acceptor closed, thread joined) by its destructor.
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/asio.hpp"

namespace dropcheck::testing {

struct ScriptedMessage {
  std::string raw;  // CRLF line endings, as stored
  std::string uidl;
  bool deleted = false;  // committed by a QUIT
};

struct Pop3Script {
  std::vector<ScriptedMessage> messages;
  bool repeat_uidl_answer = false;  // UIDL's listing is sent twice (out of step)
  std::size_t trickle_message = 0;  // 1-based; RETR of it sends one line per trickle_delay
  std::chrono::milliseconds trickle_delay{200};
  std::vector<std::string> extra_capa;    // lines added to CAPA
  std::vector<std::size_t> listed_sizes;  // LIST's size for message i when non-zero (a lie)
  bool raw_wire = false;      // RETR sends `raw` without dot-stuffing (for bare-LF tests)
  bool refuse_login = false;  // PASS: -ERR [AUTH] (RFC 3206), as after a password change
  // The first `drop_sessions` sessions are cut (no answer) at their drop_after_command-th
  // command, 1-based: a provider outage at any point.
  std::size_t drop_after_command = 0;
  std::size_t drop_sessions = 0;
};

class ScriptedPop3 {
 public:
  explicit ScriptedPop3(Pop3Script script);
  ~ScriptedPop3();
  std::uint16_t port() const { return port_; }
  // Thread-safe snapshots.
  std::vector<std::string> commands() const;  // every command line received, all sessions
  std::vector<bool> deleted() const;
  std::size_t sessions() const;
  // Commands read while the next command line had already arrived (sent pipelined).
  std::size_t pipelined_commands() const;

 private:
  void serve();
  void session(net::tcp::socket& s);
  Pop3Script script_;
  net::asio::io_context io_;
  net::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<std::string> commands_;
  std::size_t sessions_ = 0;
  std::size_t pipelined_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct SmtpTransaction {
  std::string mail_from;
  std::vector<std::string> accepted;  // RCPTs answered 250
  std::string data;
};

// Reply code for RCPT `rcpt`, the n-th RCPT (0-based) of the transaction.
using RcptPolicy = std::function<int(const std::string& rcpt, std::size_t n)>;
// Final reply code (after the end of data) for recipient `rcpt` of the n-th transaction that
// reached its end of data (0-based, all sessions). SMTP asks once per transaction, for its
// first accepted recipient; LMTP once per accepted recipient (RFC 2033 4.2).
using FinalPolicy = std::function<int(std::size_t n, const std::string& rcpt)>;

struct SmtpScript {
  RcptPolicy rcpt;
  FinalPolicy final;            // unset: 250
  bool pipelining = false;      // EHLO/LHLO lists PIPELINING (RFC 2920)
  bool lmtp = false;            // one final reply per accepted recipient
  std::size_t drop_at_end = 0;  // 1-based: the connection is cut after reading this end of
                                // data, before any reply to it (the message is not kept)
};

class ScriptedSmtp {
 public:
  explicit ScriptedSmtp(RcptPolicy policy, int data_reply = 250);
  explicit ScriptedSmtp(SmtpScript script);
  ~ScriptedSmtp();
  std::uint16_t port() const { return port_; }
  std::vector<SmtpTransaction> transactions() const;
  // Final replies written while the client's next command had already arrived: the client
  // sent it without waiting for that reply (RFC 2920 3.1).
  std::size_t commands_ahead_of_final_reply() const;
  std::size_t sessions() const;

 private:
  void serve();
  void session(net::tcp::socket& s);
  void end_of_data(net::tcp::socket& s, const std::string& buf, SmtpTransaction& t);
  SmtpScript script_;
  net::asio::io_context io_;
  net::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<SmtpTransaction> transactions_;
  std::size_t ends_ = 0;  // ends of data read
  std::size_t ahead_ = 0;
  std::size_t sessions_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace dropcheck::testing
