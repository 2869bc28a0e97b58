// Pop3Server's TRANSACTION state (protocol/pop3_server.hpp): STAT, LIST, UIDL, RETR, TOP,
// DELE, NOOP, RSET and QUIT with the UPDATE state it enters.
#include <algorithm>
#include <charconv>
#include <optional>
#include <string>

#include "pop3_internal.hpp"
#include "protocol/dot.hpp"
#include "protocol/pop3_server.hpp"

namespace dropcheck::protocol {
namespace {

// Strict decimal: digits only, no sign, no overflow.
std::optional<std::size_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > kPop3MaxArgumentOctets) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  std::size_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

using detail::words;

// --- TRANSACTION --------------------------------------------------------------------------

bool Pop3Server::parse_msg(std::string_view arg, std::size_t& index, std::string& out) {
  const auto n = parse_number(arg);
  if (!n) {
    error(out, "syntax: message number expected");
    return false;
  }
  if (*n == 0 || *n > deleted_.size()) {
    error(out, "no such message");
    return false;
  }
  if (deleted_[*n - 1]) {
    error(out, "message " + std::to_string(*n) + " already deleted");
    return false;
  }
  index = *n - 1;
  return true;
}

void Pop3Server::cmd_stat(std::string_view args, std::string& out) {
  if (!args.empty()) return error(out, "syntax: STAT");
  std::size_t count = 0;
  std::uint64_t octets = 0;
  for (std::size_t i = 0; i < deleted_.size(); ++i) {
    if (deleted_[i]) continue;
    ++count;
    octets += maildrop_.message_octets(i);
  }
  out += "+OK " + std::to_string(count) + " " + std::to_string(octets) + "\r\n";
}

void Pop3Server::cmd_list(std::string_view args, std::string& out) {
  const auto w = words(args);
  if (w.size() > 1) return error(out, "syntax: LIST [msg]");
  if (w.size() == 1) {
    std::size_t i = 0;
    if (!parse_msg(w[0], i, out)) return;
    out +=
        "+OK " + std::to_string(i + 1) + " " + std::to_string(maildrop_.message_octets(i)) + "\r\n";
    return;
  }
  std::size_t count = 0;
  std::uint64_t octets = 0;
  std::string body;
  for (std::size_t i = 0; i < deleted_.size(); ++i) {
    if (deleted_[i]) continue;
    const auto o = maildrop_.message_octets(i);
    ++count;
    octets += o;
    body += std::to_string(i + 1) + " " + std::to_string(o) + "\r\n";
  }
  out += "+OK " + std::to_string(count) + " messages (" + std::to_string(octets) + " octets)\r\n";
  out += body;
  out += ".\r\n";
}

void Pop3Server::cmd_uidl(std::string_view args, std::string& out) {
  if (!options_.uidl) return error(out, "UIDL not supported");
  const auto w = words(args);
  if (w.size() > 1) return error(out, "syntax: UIDL [msg]");
  if (w.size() == 1) {
    std::size_t i = 0;
    if (!parse_msg(w[0], i, out)) return;
    out += "+OK " + std::to_string(i + 1) + " " + maildrop_.message_uidl(i) + "\r\n";
    return;
  }
  out += "+OK unique-id listing follows\r\n";
  for (std::size_t i = 0; i < deleted_.size(); ++i) {
    if (deleted_[i]) continue;
    out += std::to_string(i + 1) + " " + maildrop_.message_uidl(i) + "\r\n";
  }
  out += ".\r\n";
}

void Pop3Server::send_message(std::size_t index, Pop3RetrieveKind kind, std::size_t top_lines,
                              std::string& out) {
  const Pop3Retrieval r = maildrop_.retrieve(index, kind);
  if (r.kind == Pop3Retrieval::Kind::error) {
    // A server-side failure, not the client's: not counted against the error budget.
    out += "-ERR " + (r.error_text.empty() ? std::string("cannot read message") : r.error_text);
    out += "\r\n";
    return;
  }
  if (kind == Pop3RetrieveKind::retr) {
    ++stats_.retrieved;
    out += "+OK " + std::to_string(maildrop_.message_octets(index)) + " octets\r\n";
  } else {
    out += "+OK top of message follows\r\n";
  }
  const std::string_view body =
      kind == Pop3RetrieveKind::top ? pop3_top(r.message, top_lines) : r.message;
  if (r.kind == Pop3Retrieval::Kind::drop) {
    std::string stuffed;
    dot_stuff(body, stuffed);
    out.append(stuffed, 0, std::min(r.drop_after, stuffed.size()));
    leave_transaction();
    state_ = Pop3State::closed;
    return;
  }
  dot_stuff(body, out);
}

void Pop3Server::cmd_retr(std::string_view args, std::string& out) {
  const auto w = words(args);
  if (w.size() != 1) return error(out, "syntax: RETR msg");
  std::size_t i = 0;
  if (!parse_msg(w[0], i, out)) return;
  send_message(i, Pop3RetrieveKind::retr, 0, out);
}

void Pop3Server::cmd_top(std::string_view args, std::string& out) {
  if (!options_.top) return error(out, "TOP not supported");
  const auto w = words(args);
  if (w.size() != 2) return error(out, "syntax: TOP msg n");
  const auto n = parse_number(w[1]);
  if (!n) return error(out, "syntax: TOP msg n, n a non-negative number");
  std::size_t i = 0;
  if (!parse_msg(w[0], i, out)) return;
  send_message(i, Pop3RetrieveKind::top, *n, out);
}

void Pop3Server::cmd_dele(std::string_view args, std::string& out) {
  const auto w = words(args);
  if (w.size() != 1) return error(out, "syntax: DELE msg");
  std::size_t i = 0;
  if (!parse_msg(w[0], i, out)) return;
  deleted_[i] = true;
  out += "+OK message " + std::to_string(i + 1) + " deleted\r\n";
}

void Pop3Server::cmd_noop(std::string_view args, std::string& out) {
  if (!args.empty()) return error(out, "syntax: NOOP");
  out += "+OK\r\n";
}

void Pop3Server::cmd_rset(std::string_view args, std::string& out) {
  if (!args.empty()) return error(out, "syntax: RSET");
  deleted_.assign(deleted_.size(), false);
  std::uint64_t octets = 0;
  for (std::size_t i = 0; i < deleted_.size(); ++i) octets += maildrop_.message_octets(i);
  out += "+OK maildrop has " + std::to_string(deleted_.size()) + " messages (" +
         std::to_string(octets) + " octets)\r\n";
}

void Pop3Server::cmd_quit(std::string_view args, std::string& out) {
  if (!args.empty()) return error(out, "syntax: QUIT");
  stats_.quit = true;
  if (state_ == Pop3State::authorization) {
    out += "+OK bye\r\n";
    state_ = Pop3State::closed;
    return;
  }
  state_ = Pop3State::update;
  std::vector<std::size_t> gone;
  for (std::size_t i = 0; i < deleted_.size(); ++i)
    if (deleted_[i]) gone.push_back(i);
  const Pop3CommitResult r = maildrop_.commit(gone);
  leave_transaction();
  if (r.ok) {
    stats_.committed_deletions = gone.size();
    out += "+OK " + options_.implementation + " POP3 server signing off (" +
           std::to_string(deleted_.size() - gone.size()) + " messages left)\r\n";
  } else {
    reply_err(out, "SYS/TEMP", r.text.empty() ? "some deleted messages not removed" : r.text);
  }
  state_ = Pop3State::closed;
}

}  // namespace dropcheck::protocol
