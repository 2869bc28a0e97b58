#include "scripted_servers.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>

#include "protocol/dot.hpp"

namespace dropcheck::testing {

namespace asio = net::asio;
using net::tcp;

namespace {

// Bounds: a test peer serves at most this many sessions and gives up on a silent client.
constexpr std::size_t kMaxSessions = 16;
constexpr int kReadTimeoutSeconds = 10;
constexpr std::size_t kMaxCommandLines = 10'000;

tcp::acceptor make_acceptor(asio::io_context& io) {
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  a.non_blocking(true);
  return a;
}

// Accepts until stopped or kMaxSessions, one session at a time.
template <typename F>
void accept_loop(tcp::acceptor& acceptor, std::atomic<bool>& stop, F&& on_session) {
  for (std::size_t n = 0; n < kMaxSessions && !stop;) {
    net::error_code ec;
    tcp::socket s = acceptor.accept(ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    if (ec) return;
    ++n;
    timeval tv{kReadTimeoutSeconds, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    on_session(s);
  }
}

bool read_line(tcp::socket& s, std::string& buf, std::string& line) {
  net::error_code ec;
  const std::size_t n = asio::read_until(s, asio::dynamic_buffer(buf), "\n", ec);
  if (ec) return false;
  line = buf.substr(0, n);
  buf.erase(0, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return true;
}

void write(tcp::socket& s, std::string_view data) {
  net::error_code ec;
  asio::write(s, asio::buffer(data), ec);
}

std::string upper_verb(const std::string& line) {
  std::string v = line.substr(0, line.find(' '));
  for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return v;
}

}  // namespace

ScriptedPop3::ScriptedPop3(Pop3Script script)
    : script_(std::move(script)),
      acceptor_(make_acceptor(io_)),
      port_(acceptor_.local_endpoint().port()),
      thread_([this] { serve(); }) {}

ScriptedPop3::~ScriptedPop3() {
  stop_ = true;
  thread_.join();
}

std::vector<std::string> ScriptedPop3::commands() const {
  std::lock_guard g(mu_);
  return commands_;
}

std::vector<bool> ScriptedPop3::deleted() const {
  std::lock_guard g(mu_);
  std::vector<bool> out;
  for (const auto& m : script_.messages) out.push_back(m.deleted);
  return out;
}

std::size_t ScriptedPop3::sessions() const {
  std::lock_guard g(mu_);
  return sessions_;
}

std::size_t ScriptedPop3::pipelined_commands() const {
  std::lock_guard g(mu_);
  return pipelined_;
}

void ScriptedPop3::serve() {
  accept_loop(acceptor_, stop_, [this](tcp::socket& s) { session(s); });
}

void ScriptedPop3::session(tcp::socket& s) {
  std::size_t this_session = 0;
  {
    std::lock_guard g(mu_);
    this_session = ++sessions_;
  }
  const bool cut = this_session <= script_.drop_sessions && script_.drop_after_command > 0;
  // Messages not yet deleted, numbered from 1 for this session.
  std::vector<std::size_t> live;
  for (std::size_t i = 0; i < script_.messages.size(); ++i)
    if (!script_.messages[i].deleted) live.push_back(i);
  std::vector<bool> marked(live.size(), false);
  auto msg = [&](const std::string& arg) -> ScriptedMessage* {
    std::size_t n = 0;
    try {
      n = std::stoul(arg);
    } catch (const std::exception&) {
      return nullptr;
    }
    if (n == 0 || n > live.size() || marked[n - 1]) return nullptr;
    return &script_.messages[live[n - 1]];
  };
  write(s, "+OK scripted POP3 ready\r\n");
  std::string buf, line;
  for (std::size_t i = 0; i < kMaxCommandLines && !stop_ && read_line(s, buf, line); ++i) {
    {
      std::lock_guard g(mu_);
      commands_.push_back(line);
      if (buf.find('\n') != std::string::npos) ++pipelined_;
    }
    if (cut && i + 1 == script_.drop_after_command) return;
    const std::string verb = upper_verb(line);
    const std::string arg =
        line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
    if (verb == "CAPA") {
      std::string r = "+OK\r\nUSER\r\nUIDL\r\n";
      for (const auto& c : script_.extra_capa) r += c + "\r\n";
      write(s, r + ".\r\n");
    } else if (verb == "PASS" && script_.refuse_login) {
      write(s, "-ERR [AUTH] invalid user name or password\r\n");
    } else if (verb == "USER" || verb == "PASS" || verb == "NOOP" || verb == "RSET") {
      write(s, "+OK\r\n");
    } else if (verb == "LIST" || verb == "UIDL") {
      std::string r = "+OK\r\n";
      for (std::size_t k = 0; k < live.size(); ++k) {
        if (marked[k]) continue;
        const auto& m = script_.messages[live[k]];
        const std::size_t idx = live[k];
        const bool lie = idx < script_.listed_sizes.size() && script_.listed_sizes[idx] != 0;
        r += verb == "LIST"
                 ? fmt::format("{} {}\r\n", k + 1, lie ? script_.listed_sizes[idx] : m.raw.size())
                 : fmt::format("{} {}\r\n", k + 1, m.uidl);
      }
      r += ".\r\n";
      write(s, r);
      if (verb == "UIDL" && script_.repeat_uidl_answer) write(s, r);
    } else if (verb == "RETR") {
      ScriptedMessage* m = msg(arg);
      if (!m) {
        write(s, "-ERR no such message\r\n");
        continue;
      }
      std::string body;
      if (script_.raw_wire) {
        body = m->raw + (m->raw.ends_with("\r\n") ? "" : "\r\n") + ".\r\n";
      } else {
        protocol::dot_stuff(m->raw, body);
      }
      write(s, fmt::format("+OK {} octets\r\n", m->raw.size()));
      const bool trickle =
          script_.trickle_message != 0 && m == &script_.messages[script_.trickle_message - 1];
      if (!trickle) {
        write(s, body);
        continue;
      }
      for (std::size_t p = 0; p < body.size() && !stop_;) {
        const std::size_t nl = body.find('\n', p);
        const std::size_t end = nl == std::string::npos ? body.size() : nl + 1;
        net::error_code ec;
        asio::write(s, asio::buffer(body.data() + p, end - p), ec);
        if (ec) return;
        p = end;
        std::this_thread::sleep_for(script_.trickle_delay);
      }
    } else if (verb == "DELE") {
      if (ScriptedMessage* m = msg(arg)) {
        marked[static_cast<std::size_t>(std::stoul(arg)) - 1] = true;
        (void)m;
        write(s, "+OK deleted\r\n");
      } else {
        write(s, "-ERR no such message\r\n");
      }
    } else if (verb == "QUIT") {
      {
        std::lock_guard g(mu_);
        for (std::size_t k = 0; k < live.size(); ++k)
          if (marked[k]) script_.messages[live[k]].deleted = true;
      }
      write(s, "+OK bye\r\n");
      return;
    } else {
      write(s, "-ERR unknown command\r\n");
    }
  }
}

ScriptedSmtp::ScriptedSmtp(RcptPolicy policy, int data_reply)
    : ScriptedSmtp(SmtpScript{std::move(policy), [data_reply](std::size_t, const std::string&) {
                                return data_reply;
                              }}) {}

ScriptedSmtp::ScriptedSmtp(SmtpScript script)
    : script_(std::move(script)),
      acceptor_(make_acceptor(io_)),
      port_(acceptor_.local_endpoint().port()),
      thread_([this] { serve(); }) {}

ScriptedSmtp::~ScriptedSmtp() {
  stop_ = true;
  thread_.join();
}

std::vector<SmtpTransaction> ScriptedSmtp::transactions() const {
  std::lock_guard g(mu_);
  return transactions_;
}

std::size_t ScriptedSmtp::commands_ahead_of_final_reply() const {
  std::lock_guard g(mu_);
  return ahead_;
}

std::size_t ScriptedSmtp::sessions() const {
  std::lock_guard g(mu_);
  return sessions_;
}

void ScriptedSmtp::serve() {
  accept_loop(acceptor_, stop_, [this](tcp::socket& s) {
    {
      std::lock_guard g(mu_);
      ++sessions_;
    }
    session(s);
  });
}

// The final reply (or replies, LMTP) to one transaction's content; a kept transaction is
// recorded with the recipients whose final reply was 2xx.
void ScriptedSmtp::end_of_data(tcp::socket& s, const std::string& buf, SmtpTransaction& t) {
  std::size_t n = 0;
  {
    std::lock_guard g(mu_);
    n = ends_++;
    net::error_code ec;
    if (!buf.empty() || s.available(ec) > 0) ++ahead_;
  }
  const auto code_for = [&](const std::string& rcpt) {
    return script_.final ? script_.final(n, rcpt) : 250;
  };
  std::vector<std::string> kept;
  std::string out;
  if (script_.lmtp) {
    for (const auto& r : t.accepted) {
      const int code = code_for(r);
      if (code / 100 == 2) kept.push_back(r);
      out += fmt::format("{} {} {}\r\n", code, code / 100 == 2 ? "done" : "refused", r);
    }
  } else {
    const int code = code_for(t.accepted.front());
    if (code / 100 == 2) kept = t.accepted;
    out = fmt::format("{} done\r\n", code);
  }
  if (!kept.empty()) {  // recorded before the reply: a client that read it finds it here
    t.accepted = kept;
    std::lock_guard g(mu_);
    transactions_.push_back(t);
  }
  write(s, out);
}

void ScriptedSmtp::session(tcp::socket& s) {
  write(s, "220 scripted ESMTP\r\n");
  std::string buf, line;
  SmtpTransaction t;
  std::size_t rcpts = 0;
  for (std::size_t i = 0; i < kMaxCommandLines && !stop_ && read_line(s, buf, line); ++i) {
    const std::string verb = upper_verb(line);
    if (verb == "EHLO" || verb == "LHLO") {
      write(s, script_.pipelining ? "250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                                  : "250-scripted\r\n250 8BITMIME\r\n");
    } else if (verb == "MAIL") {
      t = {};
      rcpts = 0;
      const auto lt = line.find('<'), gt = line.find('>');
      t.mail_from = line.substr(lt + 1, gt - lt - 1);
      write(s, "250 ok\r\n");
    } else if (verb == "RCPT") {
      const auto lt = line.find('<'), gt = line.find('>');
      const std::string rcpt = line.substr(lt + 1, gt - lt - 1);
      const int code = script_.rcpt(rcpt, rcpts++);
      if (code / 100 == 2) t.accepted.push_back(rcpt);
      write(s, fmt::format("{} {}\r\n", code, code / 100 == 2 ? "ok" : "scripted refusal"));
    } else if (verb == "DATA") {
      if (t.accepted.empty()) {
        write(s, "554 no valid recipients\r\n");
        continue;
      }
      write(s, "354 go\r\n");
      protocol::DotDecoder dec;
      while (!dec.done() && read_line(s, buf, line)) dec.feed(line + "\r\n");
      if (!dec.done()) return;  // the client went away inside DATA: nothing is accepted
      t.data = dec.take_body();
      bool drop = false;
      {
        std::lock_guard g(mu_);
        drop = script_.drop_at_end != 0 && ends_ + 1 == script_.drop_at_end;
        if (drop) ++ends_;
      }
      if (drop) return;  // cut before any reply: nothing of this transaction is kept
      end_of_data(s, buf, t);
      t = {};
    } else if (verb == "QUIT") {
      write(s, "221 bye\r\n");
      return;
    } else {
      write(s, "250 ok\r\n");
    }
  }
}

}  // namespace dropcheck::testing
