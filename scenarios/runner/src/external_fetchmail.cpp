// The fetchmail adapter (runner/external.hpp): its run control file, one poll entry per
// provider port, and its command line.
#include <fmt/format.h>

#include "base/strings.hpp"
#include "external_internal.hpp"
#include "runner/external.hpp"

namespace dropcheck::runner {

using detail::first_envelope;

namespace {

// A fetchmail rc string. Its lexer ends a "..." string at the first '"'
// whatever precedes it (fetchmail 6.4.37 reads "a\"b" as a syntax error or
// garbage) and then decodes escapes inside: '"' is written \x22 (it reads two
// hex digits at most), a backslash \\.
std::string fetchmail_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"')
      out += "\\x22";
    else if (c == '\\')
      out += "\\\\";
    else
      out.push_back(c);
  }
  return out + "\"";
}

// Received intent: fetchmail reads a Received line's "for" only when its "by"
// host is one of the names it knows for the server ("aka"; with "no dns" the
// poll name and aka only, man fetchmail "envelope"). Occurrence 0 or 1 is
// fetchmail's default envelope (no envelope line: "Received", the topmost
// line); N >= 2 is `envelope N-1 "Received"`.
std::string fetchmail_received(const mail::EnvelopeSpec &spec) {
  std::string rc = "  aka " + fetchmail_quote(spec.received_by) + "\n";
  if (spec.occurrence >= 2)
    rc += fmt::format("  envelope {} \"Received\"\n", spec.occurrence - 1);
  else
    rc += "  # envelope: fetchmail's default (Received)\n";
  return rc;
}

// The server part of a fetchmail poll entry: protocol, port and the multidrop
// options (envelope, qvirtual, localdomains) shared by every user entry below
// it.
std::string fetchmail_poll(const ExternalContext &ctx, std::uint16_t port) {
  const Scenario &s = *ctx.scenario;
  std::string rc =
      fmt::format("poll {} with proto pop3 port {} no dns uidl\n", ctx.pop3_host, port);
  if (s.fetcher.to_cc) {
    // To/Cc mode: no envelope header, not even the Received-line guess.
    rc += "  no envelope\n";
  } else if (mail::reads_received(first_envelope(s))) {
    rc += fetchmail_received(first_envelope(s));
  } else {
    const auto spec = first_envelope(s);
    // occurrence N >= 1 is the Nth line from the top: fetchmail skips N-1; 0
    // ("every line") cannot be expressed, fetchmail reads the first.
    if (spec.occurrence >= 2)
      rc += fmt::format("  envelope {} {}\n", spec.occurrence - 1, fetchmail_quote(spec.header));
    else
      rc += "  envelope " + fetchmail_quote(spec.header) + "\n";
    if (!spec.qvirtual.empty())
      rc += "  qvirtual " + fetchmail_quote(spec.qvirtual) + "\n";
    else if (spec.strip_qmail_prefix)
      // fetchmail strips one literal prefix: the first local domain's
      // "<domain>-".
      rc += "  qvirtual " + fetchmail_quote(s.world.local_domains.front() + "-") + "\n";
  }
  rc += "  localdomains";
  for (const auto &d : s.world.local_domains) {
    rc += ' ';  // not " " + quote(d): GCC 12's false -Wrestrict (PR 105329)
    rc += fetchmail_quote(d);
  }
  rc += "\n";
  return rc;
}

// One user entry and its user options (fetchmail binds smtphost, ssl, sslproto
// and keep to the `user` they follow: every entry repeats them).
std::string fetchmail_user(const ExternalContext &ctx, const ExternalAccount &a) {
  const Scenario &s = *ctx.scenario;
  std::string rc =
      "  user " + fetchmail_quote(a.user) + " with password " + fetchmail_quote(a.password) + " is";
  if (a.deliver_to.empty()) {
    // Multidrop: '*' passes local names through; full-address mappings
    // (fetchmail >= 6.3.5) carry world.aliases and take precedence over
    // localdomains.
    for (const auto &[from, to] : s.world.aliases) {
      rc += ' ';  // not " " + quote(from): GCC 12's false -Wrestrict (PR 105329)
      rc += fetchmail_quote(from) + "=" + fetchmail_quote(to);
    }
    rc += " * here\n";
  } else {
    // Single-drop: one local name; containing '@', it is the RCPT TO as is.
    rc += ' ';  // not " " + quote(...): GCC 12's false -Wrestrict (PR 105329)
    rc += fetchmail_quote(a.deliver_to) + " here\n";
  }
  if (ctx.lmtp)
    rc += fmt::format("  lmtp smtphost {}/{}\n", ctx.smtp_host, ctx.smtp_port);
  else
    rc += fmt::format("  smtphost {}/{}\n", ctx.smtp_host, ctx.smtp_port);
  if (ctx.pop3_tls == client::TlsMode::none) {
    rc += "  sslproto ''\n";  // plain POP3: no opportunistic STLS attempt
  } else {
    // Required TLS (implicit, or STLS in-band), certificate verified against
    // the run's CA.
    if (ctx.pop3_tls == client::TlsMode::implicit) rc += "  ssl\n";
    rc += "  sslproto 'TLS1.2+' sslcertck sslcertfile " + fetchmail_quote(ctx.ca_file) + "\n";
  }
  rc += s.fetcher.keep ? "  keep\n" : "  no keep\n";
  return rc;
}

}  // namespace

std::string fetchmail_rc(const ExternalContext &ctx) {
  const Scenario &s = *ctx.scenario;
  std::string rc = fmt::format(
      "# dropcheck: fetchmail run control for "
      "scenario {}, cycle {} (generated)\n",
      s.name, ctx.cycle);
  // Undeliverable mail and mail with no local recipient go to the fallback
  // mailbox, not back to the (often forged) sender: backscatter is worse than a
  // postmaster copy.
  if (!s.world.fallback.empty()) rc += "set postmaster " + fetchmail_quote(s.world.fallback) + "\n";
  rc += "set no bouncemail\nset no spambounce\n";
  // One poll entry per provider port (in the order the accounts name them),
  // holding the user entries of that port.
  const auto accounts = external_accounts(ctx);
  std::vector<std::uint16_t> ports;
  for (const auto &a : accounts)
    if (std::find(ports.begin(), ports.end(), a.port) == ports.end()) ports.push_back(a.port);
  for (const auto port : ports) {
    rc += fetchmail_poll(ctx, port);
    for (const auto &a : accounts)
      if (a.port == port) rc += fetchmail_user(ctx, a);
  }
  return rc;
}

std::vector<std::string> fetchmail_argv(const std::string &dir) {
  return {"fetchmail",
          "-f",
          dir + "/fetchmailrc",
          "--pidfile",
          dir + "/fetchmail.pid",
          "-i",
          dir + "/fetchids",
          "-d0",
          "-v",
          "--nosyslog"};
}

}  // namespace dropcheck::runner
