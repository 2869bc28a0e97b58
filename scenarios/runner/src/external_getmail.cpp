// The getmail6 adapter (runner/external.hpp): one getmailrc per account, delivering
// through msmtp, and its command line.
#include <fmt/format.h>

#include "base/strings.hpp"
#include "external_internal.hpp"
#include "runner/external.hpp"

namespace dropcheck::runner {

using detail::dquote;
using detail::first_envelope;

std::string getmail_rc(const ExternalContext &ctx, const std::string &msmtp_path,
                       const std::string &msmtp_config) {
  return getmail_rc(ctx, external_accounts(ctx).front(), msmtp_path, msmtp_config);
}

std::string getmail_rc(const ExternalContext &ctx, const ExternalAccount &account,
                       const std::string &msmtp_path, const std::string &msmtp_config) {
  const Scenario &s = *ctx.scenario;
  const auto spec = first_envelope(s);
  const bool multidrop = account.deliver_to.empty();
  const std::uint16_t port = account.port ? account.port : ctx.pop3_port;
  std::string rc = fmt::format("# dropcheck: getmailrc for scenario {}, cycle {} (generated)\n",
                               s.name, ctx.cycle);
  if (!ctx.accounts.empty())
    rc += fmt::format("# account {} ({})\n", account.name, multidrop ? "multidrop" : "single-drop");
  // getmail has no STLS for POP3: only the SSL retriever (implicit TLS)
  // protects the password.
  const bool ssl = ctx.pop3_tls == client::TlsMode::implicit;
  rc += fmt::format("[retriever]\ntype = {}POP3{}Retriever\n", multidrop ? "Multidrop" : "Simple",
                    ssl ? "SSL" : "");
  if (ssl) rc += "ca_certs = " + ctx.ca_file + "\n";
  rc += fmt::format("server = {}\nport = {}\nusername = {}\npassword = {}\n", ctx.pop3_host, port,
                    account.user, account.password);
  // getmail reads one occurrence of one header: "name:position", position 1 =
  // topmost.
  if (multidrop)
    rc += fmt::format("envelope_recipient = {}:{}\n", base::to_lower(spec.header),
                      std::max(1, spec.occurrence));
  rc += "\n[destination]\ntype = MDA_external\n";
  rc += "path = " + msmtp_path + "\n";
  // msmtp re-injects with the envelope getmail found: MAIL FROM = the
  // Return-Path getmail read (%(sender), "" for <>), RCPT TO = the envelope
  // recipient (multidrop) or the account's one local address (single-drop:
  // getmail has no %(recipient) there); no header rewriting.
  std::vector<std::string> args = {"-C",
                                   msmtp_config,
                                   "--host=" + ctx.smtp_host,
                                   fmt::format("--port={}", ctx.smtp_port),
                                   ctx.lmtp ? "--protocol=lmtp" : "--protocol=smtp",
                                   "--auth=off",
                                   "--tls=off",
                                   "--set-from-header=off",
                                   "--set-date-header=off",
                                   "--set-msgid-header=off",
                                   "-f",
                                   "%(sender)",
                                   "--",
                                   multidrop ? std::string("%(recipient)") : account.deliver_to};
  rc += "arguments = (";
  for (std::size_t i = 0; i < args.size(); ++i) rc += (i ? ", " : "") + dquote(args[i]);
  rc += ")\n";
  // The harness may run as root (CI containers); getmail refuses external MDAs
  // as root unless told otherwise.
  rc += "allow_root_commands = true\n";
  rc += "\n[options]\nverbose = 2\nread_all = false\n";
  rc += s.fetcher.keep ? "delete = false\n" : "delete = true\n";
  return rc;
}

std::string getmail_rc_name(const ExternalContext &ctx, const ExternalAccount &account) {
  return ctx.accounts.empty() ? "getmailrc" : "getmailrc-" + account.name;
}

std::vector<std::string> getmail_argv(const std::string &getmail_dir, const std::string &rcfile) {
  return getmail_argv(getmail_dir, std::vector<std::string>{rcfile});
}

std::vector<std::string> getmail_argv(const std::string &getmail_dir,
                                      const std::vector<std::string> &rcfiles) {
  std::vector<std::string> argv = {"getmail", "--getmaildir", getmail_dir};
  for (const auto &rc : rcfiles) {
    argv.push_back("--rcfile");
    argv.push_back(rc);
  }
  return argv;
}

}  // namespace dropcheck::runner
