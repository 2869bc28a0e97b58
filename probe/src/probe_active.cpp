// The probe's active mode (probe_run.hpp): test mails sent through the provider's MX, polled
// for, observed and cleaned up.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include "base/strings.hpp"
#include "client/pop3.hpp"
#include "client/smtp.hpp"
#include "probe/budget.hpp"
#include "probe/probe.hpp"
#include "probe_run.hpp"
#include "protocol/pop3_capa.hpp"

namespace dropcheck::probe::detail {

namespace asio = net::asio;
using client::Pop3Client;

namespace {

// What decided a test mail: a refused recipient makes the whole case unsent (a
// partly accepted test mail would mislead the classification); a lost
// connection is code 0.
std::pair<int, std::string> smtp_outcome(const client::Transaction &t) {
  if (!t.error.empty()) return {0, t.error};
  for (const auto &r : t.rcpts)
    if (r.code < 200 || r.code >= 300) return {r.code, r.text};
  return {t.decisive.code, t.decisive.text()};
}

std::string random_tag() {
  std::random_device rd;
  return fmt::format("{:08x}{:04x}", rd(), rd() & 0xffffu);
}

// One test case's envelope and the header fields that show its recipients.
struct CaseSpec {
  const char *id;
  const char *what;
  std::string mail_from;
  std::vector<std::string> rcpts, bcc;
  std::string to, cc;
  bool dsn = false;  // a delivery status notification to rcpts.front()
};

// The message sent for one case: the header section and a plain text body, or for the
// null-sender case a delivery status notification.
std::string test_message(const CaseSpec &s, const std::string &tag, const std::string &d,
                         const std::string &from, const std::string &date,
                         const std::string &message_id) {
  std::string h;
  h += s.dsn ? fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", d)
             : fmt::format("From: dropcheck probe <{}>\r\n", from);
  h += "To: " + s.to + "\r\n";
  if (!s.cc.empty()) h += "Cc: " + s.cc + "\r\n";
  h += fmt::format("Subject: [dropcheck-probe {}] {}: {}\r\n", tag, s.id, s.what);
  h += "Date: " + date + "\r\n";
  h += "Message-ID: " + message_id + "\r\n";
  h += fmt::format("X-Dropcheck-Probe: {} {}\r\n", tag, s.id);
  h += "MIME-Version: 1.0\r\n";
  if (s.dsn) {
    const std::string bnd = "dropcheck-" + tag;
    h += fmt::format(
        "Content-Type: multipart/report; report-type=delivery-status; "
        "boundary=\"{}\"\r\n"
        "Auto-Submitted: auto-replied\r\n\r\n"
        "--{}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "Test delivery status notification from dropcheck probe {} (null "
        "sender).\r\n\r\n"
        "--{}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; dropcheck-probe.invalid\r\n\r\n"
        "Final-Recipient: rfc822; {}\r\nAction: delivered\r\nStatus: "
        "2.0.0\r\n\r\n"
        "--{}--\r\n",
        bnd, bnd, tag, bnd, s.rcpts.front(), bnd);
  } else {
    h += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
    h += fmt::format(
        "Test mail of dropcheck probe run {} (case "
        "{}).\r\nEnvelope recipients: {}.\r\n"
        "It may be deleted.\r\n",
        tag, s.id, fmt::join(s.rcpts, ", "));
  }
  return h;
}

}  // namespace

std::vector<TestMail> Run::build_cases(const std::string &tag) const {
  const std::string d = base::to_lower(o_.domain);
  const std::string from = o_.from.empty() ? "dropcheck-probe@" + d : o_.from;
  const auto local = [&](char who) { return fmt::format("dc-{}-{}@{}", tag, who, d); };
  const std::string a = local('a'), b = local('b'), c = local('c');
  const std::vector<CaseSpec> specs = {
      {"to-only", "one local recipient in To", from, {a}, {}, a, ""},
      {"cc-foreign",
       "local To, Cc to a foreign address (never in the envelope)",
       from,
       {a},
       {},
       a,
       o_.foreign_address},
      {"bcc-local", "local To plus a local Bcc recipient", from, {a, b}, {b}, a, ""},
      {"bcc-only", "a local Bcc recipient only", from, {c}, {c}, "undisclosed-recipients:;", ""},
      {"multi-local",
       "three local recipients in To",
       from,
       {a, b, c},
       {},
       a + ", " + b + ", " + c,
       ""},
      {"null-sender", "a delivery status notification with MAIL FROM:<>", "", {a}, {}, a, "", true},
  };
  std::vector<TestMail> out;
  const std::string date = rfc5322_date();
  for (const auto &s : specs) {
    TestMail m;
    m.c.id = s.id;
    m.c.description = s.what;
    m.c.mail_from = s.mail_from;
    m.c.rcpts = s.rcpts;
    m.c.bcc = s.bcc;
    m.c.message_id = fmt::format("<{}.{}@dropcheck-probe.invalid>", s.id, tag);
    m.message = test_message(s, tag, d, from, date, m.c.message_id);
    out.push_back(std::move(m));
  }
  return out;
}

TestCase *Run::case_of(ActiveResult &ar, const MessageObservation &o) {
  const auto parts = base::split(base::trim(o.probe_tag), ' ');
  if (parts.size() != 2 || parts[0] != ar.tag) return nullptr;
  for (auto &c : ar.cases)
    if (c.id == parts[1]) return &c;
  return nullptr;
}

bool Run::covered(const TestCase &c) {
  if (c.copies.empty()) return false;
  if (c.copies.size() >= c.rcpts.size()) return true;
  std::set<std::string> named;
  for (const auto &copy : c.copies)
    for (const auto &f : copy.envelope_fields)
      for (const auto &a : addresses_in(f.value)) named.insert(strip_qmail_prefix(a));
  return std::all_of(c.rcpts.begin(), c.rcpts.end(),
                     [&](const std::string &r) { return named.count(r) > 0; });
}

void Run::say_waiting(std::chrono::milliseconds d, int attempt, int attempts) const {
  if (!o_.waiting) return;
  const auto delay = report_.pop3.login_delay_advertised.value_or(0);
  o_.waiting(fmt::format(
      "waiting {} s for poll {} of {} (the test mails' arrival){}", (d.count() + 999) / 1000,
      attempt, attempts,
      delay > 0 ? fmt::format(": the provider's LOGIN-DELAY is {} s", delay) : std::string()));
}

net::awaitable<void> Run::wait(std::chrono::milliseconds d) {
  if (o_.wait) {
    co_await o_.wait(d);
    co_return;
  }
  asio::steady_timer t(ex_, d);
  net::error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

net::awaitable<bool> Run::send_test_mails(ActiveResult &ar, std::vector<TestMail> &mails) {
  client::SmtpOptions so;
  so.server = o_.smtp;
  so.helo = o_.helo;
  so.timeout = o_.timeout;
  so.before_command = [this](std::string &why) { return budget_.take(why); };
  client::SmtpClient s(ex_, std::move(so));
  const bool open = co_await s.open();
  if (!open) {
    ar.error = scrub(s.error());
    for (auto &m : mails) ar.cases.push_back(std::move(m.c));
    co_return false;
  }
  for (auto &m : mails) {
    const auto t = co_await s.transaction(m.c.mail_from, m.c.rcpts, m.message);
    const auto [code, text] = smtp_outcome(t);
    m.c.smtp_code = code;
    m.c.smtp_text = scrub(text);
    log(fmt::format("event=test-mail case={} smtp={}", m.c.id, code));
    ar.cases.push_back(std::move(m.c));
  }
  co_await s.quit();
  co_return true;
}

net::awaitable<std::optional<std::vector<std::size_t>>> Run::collect_tagged(
    Pop3Client &c, ActiveResult &ar, std::set<std::string> &ours, std::size_t &n_msgs) {
  auto ids = co_await uidls(c);
  auto st = co_await stat(c);
  if (!ids || !st) {
    ar.error = "poll: " + c.error();
    co_return std::nullopt;
  }
  n_msgs = st->first;
  // Newest last: look from the end, at most max_messages.
  const std::size_t low = n_msgs > o_.max_messages ? n_msgs - o_.max_messages : 0;
  std::vector<std::size_t> tagged_here;
  for (std::size_t n = n_msgs; n > low; --n) {
    const auto it = ids->find(n);
    const std::string id = it != ids->end() ? it->second : "";
    if (!id.empty() && baseline_.count(id) && !ours.count(id)) continue;
    bool refused = false;
    auto o = co_await top(c, n, refused);
    if (!o) break;
    if (refused) continue;
    o->uidl = id;
    TestCase *tc = case_of(ar, *o);
    if (!tc) {
      if (!id.empty()) baseline_.insert(id);
      continue;
    }
    tagged_here.push_back(n);
    const std::string key = id.empty() ? o->probe_tag + "|" + std::to_string(n) : id;
    if (ours.insert(key).second) tc->copies.push_back(std::move(*o));
    if (!id.empty()) baseline_.insert(id);
  }
  co_return tagged_here;
}

net::awaitable<void> Run::active() {
  report_.active.emplace();
  ActiveResult &ar = *report_.active;
  ar.tag = o_.tag.empty() ? random_tag() : o_.tag;
  auto mails = build_cases(ar.tag);
  const bool reached = co_await send_test_mails(ar, mails);
  if (!reached) co_return;
  const bool any_sent = std::any_of(ar.cases.begin(), ar.cases.end(), [](const TestCase &c) {
    return c.smtp_code >= 200 && c.smtp_code < 300;
  });
  if (!any_sent) {
    ar.error = "the MX accepted none of the test mails";
    co_return;
  }
  // Polls log in: never faster than the provider allows.
  auto interval = o_.poll_interval;
  if (report_.pop3.login_delay_advertised && *report_.pop3.login_delay_advertised > 0)
    interval = std::max<std::chrono::milliseconds>(
        interval, std::chrono::seconds(*report_.pop3.login_delay_advertised + 1));
  std::set<std::string> ours;  // UIDLs of tagged copies already recorded
  int all_seen_at = -1;
  const int attempts = std::max(1, o_.poll_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    say_waiting(interval, attempt, attempts);
    co_await wait(interval);
    if (budget_.expired()) {
      ar.error = "run time limit reached while polling";
      break;
    }
    ++ar.polls;
    LoginAttempt la;
    auto c = co_await open(false, la);
    if (!c) {
      log(fmt::format("event=poll n={} login={}", attempt, to_string(la.result)));
      if (la.result == LoginResult::auth_failed || la.result == LoginResult::not_tried) {
        ar.error = "poll login refused: " + la.text;
        break;
      }
      continue;
    }
    std::size_t n_msgs = 0;
    auto tagged = co_await collect_tagged(*c, ar, ours, n_msgs);
    if (!tagged) break;
    const std::vector<std::size_t> &tagged_here = *tagged;
    const bool all_seen = std::all_of(ar.cases.begin(), ar.cases.end(), [](const TestCase &t) {
      return t.smtp_code < 200 || t.smtp_code >= 300 || !t.copies.empty();
    });
    const bool all_covered = std::all_of(ar.cases.begin(), ar.cases.end(), [](const TestCase &t) {
      return t.smtp_code < 200 || t.smtp_code >= 300 || covered(t);
    });
    if (all_seen && all_seen_at < 0) all_seen_at = attempt;
    // Without an envelope header coverage cannot be shown: one more poll,
    // then settle.
    const bool done = all_covered || (all_seen_at > 0 && attempt > all_seen_at);
    ar.complete = all_covered;
    log(fmt::format("event=poll n={} messages={} tagged={} done={}", attempt, n_msgs,
                    tagged_here.size(), done ? "yes" : "no"));
    if ((done || attempt == attempts) && o_.cleanup) co_await cleanup(*c, ar, tagged_here);
    co_await c->quit();
    if (done) break;
  }
}

net::awaitable<void> Run::cleanup(Pop3Client &c, ActiveResult &ar,
                                  const std::vector<std::size_t> &ns) {
  for (const std::size_t n : ns) {
    bool refused = false;
    auto o = co_await top(c, n, refused);
    if (!o || refused || !case_of(ar, *o)) continue;
    auto d = co_await c.command(fmt::format("DELE {}", n));
    if (d && d->ok) ++ar.deleted;
  }
  log(fmt::format("event=cleanup deleted={}", ar.deleted));
}

}  // namespace dropcheck::probe::detail
