// The provider's MX intake: an SMTP server (protocol::SmtpServerSession) that accepts mail for
// every recipient a mailbox receives (its own address, or any with a catch-all) and refuses the
// others with 550; accepted messages are split into the mailboxes and stamped by
// Provider::deliver().
#include <fmt/format.h>

#include "fake_pop3/provider.hpp"
#include "net/deadlines.hpp"
#include "protocol/smtp_server.hpp"

namespace dropcheck::fake_pop3 {

// A transaction, MAIL to the reply to its message: fake-smtp's default (fake_smtp::Policy).
constexpr std::chrono::minutes kMxTransactionTimeout{10};

class MxSession final : public net::ProtocolSession, private protocol::SmtpHandler {
 public:
  MxSession(Provider& provider, const net::Peer& peer)
      : provider_(provider), session_(config(peer), *this) {}

  std::string start() override { return session_.greeting(); }
  void receive(std::string_view in, std::string& out) override {
    session_.receive(in, out);
    deadlines_.update(session_.partial_command(), session_.in_transaction());
  }
  // As fake-smtp: a command within the idle timeout of its first octet (RFC 5321 4.5.3.2.7),
  // a transaction within kMxTransactionTimeout.
  std::chrono::steady_clock::time_point input_deadline() const override {
    return deadlines_.deadline();
  }
  bool closing() const override { return session_.closing(); }
  bool take_tls_request() override { return session_.take_tls_request(); }
  void on_tls_started() override { session_.on_tls_started(); }
  std::string finish(std::string_view reason) override { return session_.finish(reason); }

 private:
  static protocol::SmtpServerConfig config(const net::Peer&) {
    protocol::SmtpServerConfig c;
    c.hostname = "mx.provider.example";
    c.greeting_text = "ESMTP dropcheck fake-pop3 MX intake";
    return c;
  }

  protocol::SmtpTimestamp now() const override { return {provider_.clock_.now().count(), 0}; }
  protocol::SmtpReply on_mail(std::string_view reverse_path, std::string_view) override {
    mail_from_ = std::string(reverse_path);
    rcpts_.clear();
    return protocol::smtp_reply(250, "2.1.0 Ok");
  }
  protocol::SmtpReply on_rcpt(std::string_view forward_path, std::string_view) override {
    // As a provider's MX without a catch-all (Postfix: "User unknown in virtual mailbox
    // table"): RFC 5321 4.2.2 550, RFC 3463 5.1.1 bad destination mailbox address.
    if (!provider_.accepts(forward_path)) {
      ++provider_.refused_rcpts_;
      return protocol::smtp_reply(
          550, fmt::format("5.1.1 <{}>: Recipient address rejected: User unknown", forward_path));
    }
    rcpts_.emplace_back(forward_path);
    return protocol::smtp_reply(250, "2.1.5 Ok");
  }
  std::vector<protocol::SmtpReply> on_data(std::string_view message) override {
    provider_.deliver(mail_from_, rcpts_, message);
    return {protocol::smtp_reply(
        250, fmt::format("2.0.0 Ok: stored for {} recipient(s)", rcpts_.size()))};
  }
  void on_transaction_end(protocol::SmtpTransaction&&) override { rcpts_.clear(); }

  Provider& provider_;
  net::InputDeadlines deadlines_{idle_timeout(), kMxTransactionTimeout};
  std::string mail_from_;
  std::vector<std::string> rcpts_;
  protocol::SmtpServerSession session_;  // last: it holds a reference to *this as handler
};

std::unique_ptr<net::ProtocolSession> Provider::make_mx_session(const net::Peer& peer) {
  return std::make_unique<MxSession>(*this, peer);
}

}  // namespace dropcheck::fake_pop3
