#include "fake_pop3/provider.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <random>
#include <stdexcept>

#include "base/date.hpp"
#include "base/strings.hpp"
#include "mail/header.hpp"
#include "net/deadlines.hpp"
#include "protocol/pop3_server.hpp"

namespace dropcheck::fake_pop3 {

namespace {

// "example.com-hans@example.com" for "hans@example.com" (qmail virtualdomains: the virtual
// domain becomes a prefix of the local part of the delivery address).
std::string qmail_prefixed(std::string_view rcpt) {
  const auto at = rcpt.rfind('@');
  if (at == std::string_view::npos) return std::string(rcpt);
  const std::string_view domain = rcpt.substr(at + 1);
  return fmt::format("{}-{}@{}", domain, rcpt.substr(0, at), domain);
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// The line ending prepend_field will use for `message`: CRLF unless its first line ends in LF.
std::string_view line_ending_of(std::string_view message) {
  const auto lf = message.find('\n');
  return lf != std::string_view::npos && (lf == 0 || message[lf - 1] != '\r') ? "\n" : "\r\n";
}

// The sender's MX as the provider's MX saw it: mail.<sender's domain>.
std::string sending_host(std::string_view mail_from) {
  const auto at = mail_from.rfind('@');
  return at == std::string_view::npos ? "localhost"
                                      : fmt::format("mail.{}", mail_from.substr(at + 1));
}

}  // namespace

// Received lines as the provider's MTAs write them (value only), folded like Postfix's with the
// message's own line ending: "for" only with one recipient (RFC 5321 4.4, naming several would
// show each the others).
std::vector<std::pair<std::string, std::string>> Provider::received_lines(
    std::string_view mail_from, const std::vector<std::string>& group, std::string_view message,
    std::size_t copy) const {
  std::vector<std::pair<std::string, std::string>> out;
  const Profile& p = profile_;
  if (p.received_by.empty()) return out;
  const std::string eol(line_ending_of(message));
  const std::string date = base::rfc5322_date(clock_.now());
  const std::string id = fmt::format("{:X}{:04X}", deliveries_, copy);
  const std::string for_clause = group.size() == 1 ? "for <" + group.front() + ">; " : "";
  if (!p.received_inner_by.empty())
    out.emplace_back("Received", fmt::format("from {} ({} [192.0.2.10]){}\tby {} (dropcheck "
                                             "fake-pop3) with LMTP id {};{}\t{}",
                                             p.received_by, p.received_by, eol, p.received_inner_by,
                                             id, eol, date));
  const std::string from = sending_host(mail_from);
  out.emplace_back("Received",
                   fmt::format("from {} ({} [192.0.2.25]){}\tby {} (dropcheck fake-pop3) with "
                               "ESMTP id {}{}{}\t{}{}",
                               from, from, eol, p.received_by, id, for_clause.empty() ? ";" : "",
                               eol, for_clause, date));
  return out;
}

// One POP3 connection: the protocol machine plus the mailbox logged in to as its maildrop.
class Pop3Session final : public net::ProtocolSession, private protocol::Pop3Maildrop {
 public:
  Pop3Session(Provider& provider, const net::Peer& peer, std::uint64_t id, std::size_t log_index)
      : provider_(provider),
        profile_(provider.profile_),
        id_(id),
        log_index_(log_index),
        deadlines_(std::chrono::seconds(profile_.idle_timeout_s), std::chrono::milliseconds(0)),
        server_(*this, options(provider, peer, id)) {
    // A transient fault: after the first `faults.sessions` sessions the provider is healthy.
    if (profile_.faults.sessions > 0 && id > profile_.faults.sessions) {
      const Represent keep = profile_.faults.represent_deleted;
      profile_.faults = Faults{};
      profile_.faults.represent_deleted = keep;
    }
  }

  ~Pop3Session() override { server_.finish(); }

  std::string start() override {
    std::string g = server_.greeting();
    account(g, 0);
    return g;
  }

  void receive(std::string_view in, std::string& out) override {
    const std::size_t before = out.size();
    server_.receive(in, out);
    account(out, before);
    log().errors = server_.stats().errors;
    deadlines_.update(server_.partial_command(), false);
  }
  // A command line must be complete within the idle timeout of its first octet (RFC 1939 3:
  // the autologout timer), however slowly it trickles in.
  std::chrono::steady_clock::time_point input_deadline() const override {
    return deadlines_.deadline();
  }

  bool closing() const override { return dropped_ || server_.closing(); }
  bool take_tls_request() override { return server_.take_tls_request(); }
  void on_tls_started() override {
    server_.on_tls_started();
    log().tls = true;
    log().stls_used = true;
  }
  std::string finish(std::string_view reason) override {
    server_.finish();
    auto& e = log();
    e.ended_at = provider_.clock_.now();
    e.quit = server_.stats().quit;
    if (e.end_reason.empty()) e.end_reason = std::string(reason);
    if (!finished_ && provider_.session_observer_) provider_.session_observer_(e);
    finished_ = true;
    return {};  // RFC 1939 3: an autologout closes without a response
  }
  std::chrono::milliseconds idle_timeout() const override {
    return std::chrono::seconds(profile_.idle_timeout_s);
  }
  std::size_t write_rate() const override {
    return static_cast<std::size_t>(profile_.throttle_bytes_per_s);
  }

 private:
  static protocol::Pop3ServerOptions options(const Provider& p, const net::Peer& peer,
                                             std::uint64_t id) {
    const Profile& pr = p.profile_;
    protocol::Pop3ServerOptions o;
    o.implementation = "dropcheck-fake-pop3";
    o.user_pass = pr.user_pass;
    o.apop = pr.apop;
    // RFC 1939 7: the timestamp must differ for every greeting.
    o.apop_timestamp = fmt::format("<{}.{}.{}@fake-pop3.dropcheck.test>", p.apop_nonce_, id,
                                   p.clock_.now().count());
    o.sasl_plain = pr.sasl_plain;
    o.plaintext_without_tls = pr.plaintext_without_tls;
    o.stls = pr.stls && p.stls_available_ && !peer.tls;
    o.tls_active = peer.tls;
    o.pipelining = pr.pipelining;
    o.resp_codes = pr.resp_codes;
    o.auth_resp_code = pr.resp_codes;
    o.expire = pr.expire;
    o.login_delay_s = (pr.login_delay_s > 0 && pr.advertise_login_delay) ? pr.login_delay_s : -1;
    return o;
  }

  SessionLogEntry& log() { return provider_.log_[log_index_]; }

  // Counts output octets and applies Faults::drop_after_bytes by cutting `out` short.
  void account(std::string& out, std::size_t from) {
    const std::uint64_t n = out.size() - from;
    const std::uint64_t limit = profile_.faults.drop_after_bytes;
    if (limit > 0 && bytes_out_ + n >= limit) {
      provider_.fired("drop_after_bytes");
      out.resize(from + static_cast<std::size_t>(limit - bytes_out_));
      dropped_ = true;
      log().end_reason = "fault-drop";
      server_.finish();
    }
    bytes_out_ += out.size() - from;
    log().bytes_out = bytes_out_;
  }

  // --- Pop3Maildrop ---
  protocol::Pop3AuthResult authenticate(const protocol::Pop3Credentials& c) override {
    using protocol::Pop3AuthStatus;
    auto& e = log();
    ++e.auth_attempts;
    e.auth_mechanism = std::string(protocol::to_string(c.mechanism));
    e.user = c.user;
    e.tls = c.tls;
    if (c.mechanism != protocol::Pop3AuthMechanism::apop && !c.tls && c.stls_offered)
      e.cleartext_password_while_stls_offered = true;
    const auto result = [&](Pop3AuthStatus s, std::string text = {}) {
      e.auth_result = std::string(protocol::to_string(s));
      return protocol::Pop3AuthResult{s, std::move(text)};
    };
    // The user selects the mailbox; an unknown user is bad credentials like a wrong password.
    const std::size_t box = provider_.box_of_user(c.user);
    bool good = box != Provider::kNoBox && (c.authzid.empty() || c.authzid == c.user);
    if (good) {
      const std::string& password = provider_.mailboxes_[box].password;
      if (c.mechanism == protocol::Pop3AuthMechanism::apop)
        good = c.apop_digest == protocol::apop_digest(c.apop_timestamp, password);
      else
        good = c.password == password;
    }
    if (!good) return result(Pop3AuthStatus::bad_credentials);
    const std::int64_t fail = profile_.faults.auth_failures;
    ++provider_.correct_logins_;
    if (fail < 0 || provider_.correct_logins_ <= fail) {
      provider_.fired("auth_failures");
      return result(Pop3AuthStatus::bad_credentials);
    }
    // LOGIN-DELAY (RFC 2449 6.8) is per mailbox: another box's login does not count.
    auto& last_login = provider_.boxes_[box].last_login;
    const base::Millis now = provider_.clock_.now();
    if (profile_.login_delay_s > 0 && last_login &&
        now - *last_login < std::chrono::seconds(profile_.login_delay_s))
      return result(Pop3AuthStatus::login_delay,
                    fmt::format("wait {} seconds between logins", profile_.login_delay_s));
    last_login = now;
    box_ = box;
    e.login_at = now;
    return result(Pop3AuthStatus::ok);
  }

  // The lock is the mailbox's (RFC 1939 8: an exclusive-access lock on the maildrop).
  protocol::Pop3AuthResult lock() override {
    assert(box_ != Provider::kNoBox);
    Provider::Box& box = provider_.boxes_[box_];
    if (profile_.locking == Profile::Locking::exclusive) {
      if (box.lock_holder) {
        log().auth_result = "in-use";
        log().login_at.reset();
        return {protocol::Pop3AuthStatus::in_use, ""};
      }
      box.lock_holder = id_;
    }
    snapshot_ = box.store;
    return {};
  }

  std::size_t message_count() const override { return snapshot_.size(); }

  std::uint64_t message_octets(std::size_t i) const override {
    const auto real = static_cast<std::int64_t>(protocol::pop3_octets(snapshot_[i]->data));
    if (profile_.faults.list_size_delta != 0) provider_.fired("list_size_delta");
    return static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, real + profile_.faults.list_size_delta));
  }

  // What the client is told (UIDL): the uidl faults fire here.
  std::string message_uidl(std::size_t i) const override {
    if (profile_.faults.duplicate_uidls && i % 2 == 1) provider_.fired("duplicate_uidls");
    if (profile_.faults.changing_uidls) provider_.fired("changing_uidls");
    return uidl_of(i);
  }

  // The UIDL of message i as the client sees it (the log records this), firing nothing.
  std::string uidl_of(std::size_t i) const {
    if (profile_.faults.duplicate_uidls && i % 2 == 1) i -= 1;
    std::string u = snapshot_[i]->uidl;
    if (profile_.faults.changing_uidls) u += fmt::format(".s{}", id_);
    return u;
  }

  // RETR and TOP alike: a fetcher that retrieves with TOP (fetchmail) meets the same faults.
  protocol::Pop3Retrieval retrieve(std::size_t i, protocol::Pop3RetrieveKind kind) override {
    protocol::Pop3Retrieval r;
    const auto& f = profile_.faults;
    if (std::find(f.err_on_retr.begin(), f.err_on_retr.end(), i + 1) != f.err_on_retr.end()) {
      provider_.fired("err_on_retr");
      r.kind = protocol::Pop3Retrieval::Kind::error;
      r.error_text = profile_.resp_codes ? "[SYS/TEMP] message temporarily unavailable"
                                         : "message temporarily unavailable";
      return r;
    }
    r.message = snapshot_[i]->data;
    auto& uidls =
        kind == protocol::Pop3RetrieveKind::retr ? log().retrieved_uidls : log().topped_uidls;
    uidls.push_back(uidl_of(i));
    if (f.drop_in_retr == i + 1) {
      provider_.fired("drop_in_retr");
      r.kind = protocol::Pop3Retrieval::Kind::drop;
      r.drop_after = f.drop_in_retr_after;
      log().end_reason = "fault-drop";
    }
    return r;
  }

  protocol::Pop3CommitResult commit(std::span<const std::size_t> deleted) override {
    assert(box_ != Provider::kNoBox);
    auto& store = provider_.boxes_[box_].store;
    const Represent rep = profile_.faults.represent_deleted;
    for (std::size_t i : deleted) {
      log().deleted_uidls.push_back(uidl_of(i));
      log().deleted_seqs.push_back(snapshot_[i]->seq);
      const auto it = std::find(store.begin(), store.end(), snapshot_[i]);
      if (it == store.end()) continue;  // already removed by a concurrent session (no locking)
      if (rep != Represent::off) provider_.fired("represent_deleted");
      if (rep == Represent::off) {
        store.erase(it);
      } else if (rep == Represent::new_uidl) {
        auto copy = std::make_shared<StoredMessage>(**it);
        copy->uidl = fmt::format("{}.r{}", (*it)->uidl.substr(0, (*it)->uidl.find(".r")),
                                 ++provider_.uidl_generation_);
        *it = std::move(copy);
      }
    }
    return {};
  }

  void release() override {
    if (box_ == Provider::kNoBox) return;
    auto& holder = provider_.boxes_[box_].lock_holder;
    if (holder == id_) holder.reset();
  }

  Provider& provider_;
  Profile profile_;  // the profile at connect time (set_profile affects later sessions)
  std::uint64_t id_;
  std::size_t log_index_;
  std::size_t box_ = Provider::kNoBox;  // the mailbox logged in to
  std::vector<std::shared_ptr<const StoredMessage>> snapshot_;
  std::uint64_t bytes_out_ = 0;
  bool dropped_ = false;
  bool finished_ = false;
  net::InputDeadlines deadlines_;
  protocol::Pop3Server server_;  // last: its destructor may call back into the members above
};

Provider::Provider(Profile profile, std::string user, std::string password,
                   const base::Clock& clock)
    : Provider(std::move(profile),
               std::vector<Mailbox>{Mailbox{std::move(user), std::move(password), {}, true}},
               clock) {}

Provider::Provider(Profile profile, std::vector<Mailbox> mailboxes, const base::Clock& clock)
    : profile_(std::move(profile)),
      mailboxes_(std::move(mailboxes)),
      boxes_(mailboxes_.size()),
      clock_(clock) {
  if (mailboxes_.empty()) throw std::invalid_argument("fake-pop3: no mailbox");
  for (std::size_t i = 0; i < mailboxes_.size(); ++i) {
    const Mailbox& m = mailboxes_[i];
    if (m.user.empty())
      throw std::invalid_argument(fmt::format("fake-pop3: mailbox {}: empty user", i + 1));
    for (std::size_t j = 0; j < i; ++j)
      if (mailboxes_[j].user == m.user)
        throw std::invalid_argument(
            fmt::format("fake-pop3: mailbox user '{}' appears twice", m.user));
    if (m.catch_all) {
      if (catch_all_ != kNoBox)
        throw std::invalid_argument(
            fmt::format("fake-pop3: mailboxes '{}' and '{}' are both catch_all (at most one)",
                        mailboxes_[catch_all_].user, m.user));
      catch_all_ = i;
    }
    for (const auto& a : m.addresses) {
      if (a.empty())
        throw std::invalid_argument(fmt::format("fake-pop3: mailbox '{}': empty address", m.user));
      const auto [it, added] = owner_.emplace(base::to_lower(a), i);
      if (!added && it->second != i)
        throw std::invalid_argument(
            fmt::format("fake-pop3: address '{}' owned by mailboxes '{}' and '{}'", a,
                        mailboxes_[it->second].user, m.user));
    }
  }
  std::random_device rd;
  apop_nonce_ = fmt::format("{:08x}", rd());
}

std::size_t Provider::route(std::string_view rcpt) const {
  const auto it = owner_.find(base::to_lower(rcpt));
  return it != owner_.end() ? it->second : catch_all_;
}

std::size_t Provider::box_of_user(std::string_view user) const {
  for (std::size_t i = 0; i < mailboxes_.size(); ++i)
    if (mailboxes_[i].user == user) return i;
  return kNoBox;
}

bool Provider::set_password(std::string_view user, std::string password) {
  const std::size_t box = box_of_user(user);
  if (box == kNoBox) return false;
  mailboxes_[box].password = std::move(password);
  return true;
}

Provider::~Provider() = default;

std::vector<std::string> Provider::stamp(std::string_view mail_from,
                                         const std::vector<std::string>& rcpts,
                                         std::string_view message,
                                         std::string_view box_address) const {
  const Profile& p = profile_;
  std::vector<std::vector<std::string>> groups;
  if (p.copy_per_recipient && !rcpts.empty()) {
    for (const auto& r : rcpts) groups.push_back({r});
  } else {
    groups.push_back(rcpts);
  }
  const bool env_is_dt = base::iequals(p.envelope_header, "Delivered-To");
  const auto dt_value = [&](const std::string& r) {
    return p.qmail_prefix ? qmail_prefixed(r) : r;
  };
  std::vector<std::string> copies;
  for (const auto& group : groups) {
    const auto trace = received_lines(mail_from, group, message, copies.size());
    // Fields top-down as the provider's delivery agent leaves them: Return-Path, the envelope
    // header(s), Delivered-To (Postfix local(8) order), then the message as received.
    std::vector<std::pair<std::string, std::string>> fields;
    if (p.return_path) fields.emplace_back("Return-Path", fmt::format("<{}>", mail_from));
    if (!p.envelope_header.empty() && !group.empty()) {
      if (p.envelope_style == EnvelopeStyle::list && !env_is_dt) {
        fields.emplace_back(p.envelope_header, join(group, ", "));
      } else {
        for (const auto& r : group)
          fields.emplace_back(p.envelope_header, env_is_dt ? dt_value(r) : r);
      }
    }
    if (p.delivered_to == DeliveredTo::recipient) {
      for (const auto& r : group) fields.emplace_back("Delivered-To", dt_value(r));
    } else if (p.delivered_to == DeliveredTo::mailbox) {
      fields.emplace_back("Delivered-To",
                          box_address.empty() ? p.mailbox_address : std::string(box_address));
    }
    fields.insert(fields.end(), trace.begin(), trace.end());
    std::string m(message);
    for (auto it = fields.rbegin(); it != fields.rend(); ++it)
      m = mail::prepend_field(m, it->first, it->second);
    copies.push_back(std::move(m));
  }
  return copies;
}

void Provider::deliver(std::string_view mail_from, const std::vector<std::string>& rcpts,
                       std::string_view message) {
  ++deliveries_;
  // Split the recipients by mailbox; boxes in the order of their first recipient.
  std::vector<std::size_t> order;
  std::vector<std::vector<std::string>> subset(boxes_.size());
  for (const auto& r : rcpts) {
    const std::size_t b = route(r);
    if (b == kNoBox) {
      ++refused_rcpts_;  // no mailbox: the provider's MX refuses it (550 5.1.1)
      continue;
    }
    if (subset[b].empty()) order.push_back(b);
    subset[b].push_back(r);
  }
  // No recipient at all (an injected message): one copy, as ever, for the catch-all.
  if (rcpts.empty() && catch_all_ != kNoBox) order.push_back(catch_all_);
  for (const std::size_t b : order) {
    const auto& box_rcpts = subset[b];
    const Mailbox& box = mailboxes_[b];
    const std::string_view own =
        b == catch_all_ || box.addresses.empty() ? std::string_view() : box.addresses.front();
    auto copies = stamp(mail_from, box_rcpts, message, own);
    for (std::size_t i = 0; i < copies.size(); ++i) {
      auto m = std::make_shared<StoredMessage>();
      m->seq = next_seq_++;
      m->mailbox = mailboxes_[b].user;
      m->data = std::move(copies[i]);
      // UIDL: delivery number and a digest prefix; unique, 0x21..0x7E, well under 70 octets.
      m->uidl = fmt::format("dc{:08}.{}", m->seq, base::sha256_hex(m->data).substr(0, 16));
      m->mail_from = std::string(mail_from);
      if (copies.size() == 1)
        m->rcpts = box_rcpts;
      else
        m->rcpts = {box_rcpts[i]};
      m->delivered_at = clock_.now();
      boxes_[b].store.push_back(std::move(m));
    }
  }
}

std::size_t Provider::stored_count() const {
  std::size_t n = 0;
  for (const auto& b : boxes_) n += b.store.size();
  return n;
}

std::vector<StoredMessage> Provider::stored() const {
  std::vector<StoredMessage> out;
  out.reserve(stored_count());
  for (const auto& b : boxes_)
    for (const auto& m : b.store) out.push_back(*m);
  std::stable_sort(out.begin(), out.end(),
                   [](const StoredMessage& a, const StoredMessage& b) { return a.seq < b.seq; });
  return out;
}

std::vector<StoredMessage> Provider::stored(std::string_view user) const {
  std::vector<StoredMessage> out;
  const std::size_t box = box_of_user(user);
  if (box == kNoBox) return out;
  for (const auto& m : boxes_[box].store) out.push_back(*m);
  return out;
}

std::unique_ptr<net::ProtocolSession> Provider::make_pop3_session(const net::Peer& peer) {
  SessionLogEntry e;
  e.id = log_.size() + 1;
  e.peer = fmt::format("{}:{}", peer.address, peer.port);
  e.started_at = clock_.now();
  e.implicit_tls = peer.tls;
  e.tls = peer.tls;
  log_.push_back(std::move(e));
  return std::make_unique<Pop3Session>(*this, peer, log_.back().id, log_.size() - 1);
}

void Provider::record_refused(const net::Peer& peer, std::string_view reason) {
  SessionLogEntry e;
  e.id = log_.size() + 1;
  e.peer = fmt::format("{}:{}", peer.address, peer.port);
  e.started_at = e.ended_at = clock_.now();
  e.implicit_tls = e.tls = peer.tls;
  e.end_reason = std::string(reason);
  log_.push_back(std::move(e));
  if (session_observer_) session_observer_(log_.back());
}

net::ServerOptions Provider::pop3_server_options(std::shared_ptr<net::ssl::context> tls,
                                                 bool implicit_tls) {
  net::ServerOptions o;
  o.max_sessions = profile_.max_sessions;
  o.busy_reply = profile_.resp_codes ? "-ERR [SYS/TEMP] too many sessions, try later\r\n"
                                     : "-ERR too many sessions, try later\r\n";
  o.fd_limit_reply = profile_.resp_codes ? "-ERR [SYS/TEMP] out of file descriptors, try later\r\n"
                                         : "-ERR out of file descriptors, try later\r\n";
  o.on_refused = [this](const net::Peer& peer, std::string_view reason) {
    record_refused(peer, reason);
  };
  stls_available_ = stls_available_ || tls != nullptr;
  o.tls = std::move(tls);
  o.implicit_tls = implicit_tls;
  return o;
}

std::vector<std::string> scheduled_faults(const Faults& f) {
  std::vector<std::string> out;
  if (f.auth_failures != 0) out.push_back("auth_failures");
  if (f.changing_uidls) out.push_back("changing_uidls");
  if (f.drop_after_bytes > 0) out.push_back("drop_after_bytes");
  if (f.drop_in_retr > 0) out.push_back("drop_in_retr");
  if (f.duplicate_uidls) out.push_back("duplicate_uidls");
  if (!f.err_on_retr.empty()) out.push_back("err_on_retr");
  if (f.list_size_delta != 0) out.push_back("list_size_delta");
  if (f.represent_deleted != Represent::off) out.push_back("represent_deleted");
  return out;
}

std::string to_log_line(const SessionLogEntry& e) {
  std::string line = fmt::format(
      "event=pop3-session id={} peer={} tls={} stls={} mechanism={} user={} auth={} attempts={} "
      "cleartext_with_stls={} login_at_ms={} retrieved={} topped={} deleted={} quit={} end={} "
      "bytes_out={} errors={} duration_ms={}",
      e.id, e.peer, e.tls, e.stls_used, e.auth_mechanism.empty() ? "-" : e.auth_mechanism,
      e.user.empty() ? "-" : e.user, e.auth_result.empty() ? "-" : e.auth_result, e.auth_attempts,
      e.cleartext_password_while_stls_offered, e.login_at ? e.login_at->count() : -1,
      e.retrieved_uidls.size(), e.topped_uidls.size(), e.deleted_uidls.size(), e.quit, e.end_reason,
      e.bytes_out, e.errors, (e.ended_at - e.started_at).count());
  return line;
}

}  // namespace dropcheck::fake_pop3
