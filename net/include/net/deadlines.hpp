#pragma once
// Deadlines that arriving octets do not move (STYLE.md: every operation under a deadline): a
// client that trickles a command one octet at a time, or keeps a transaction open with a line
// now and then, is cut at them, whatever the idle timeout says. A session adapter calls
// update() after each receive() and returns deadline() from ProtocolSession::input_deadline().
#include <chrono>
#include <optional>

namespace dropcheck::net {

class InputDeadlines {
 public:
  using Clock = std::chrono::steady_clock;
  // `command`: from the first octet of a command line to its end. `transaction`: from its
  // start (SMTP MAIL) to its end (the reply to the message); zero: none.
  InputDeadlines(std::chrono::milliseconds command, std::chrono::milliseconds transaction)
      : command_(command), transaction_(transaction) {}

  void update(bool partial_command, bool in_transaction, Clock::time_point now = Clock::now()) {
    if (!partial_command)
      command_since_.reset();
    else if (!command_since_)
      command_since_ = now;
    if (!in_transaction)
      transaction_since_.reset();
    else if (!transaction_since_)
      transaction_since_ = now;
  }

  Clock::time_point deadline() const {
    auto d = Clock::time_point::max();
    if (command_since_ && command_.count() > 0) d = std::min(d, *command_since_ + command_);
    if (transaction_since_ && transaction_.count() > 0)
      d = std::min(d, *transaction_since_ + transaction_);
    return d;
  }

 private:
  std::chrono::milliseconds command_;
  std::chrono::milliseconds transaction_;
  std::optional<Clock::time_point> command_since_;
  std::optional<Clock::time_point> transaction_since_;
};

}  // namespace dropcheck::net
