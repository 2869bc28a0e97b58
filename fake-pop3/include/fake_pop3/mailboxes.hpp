#pragma once
// The mailboxes file of `fake-pop3 --mailboxes FILE`: the provider's accounts, read once into
// Provider's Mailbox structs.
//
//   version: 1
//   mailboxes:
//     - user: anna                       # POP3 user, unique
//       password_file: anna.pw           # first line; or `password: ...` (exactly one of them)
//       addresses: [anna@firma.example]  # the recipients it owns (case-insensitive)
//     - user: catchall
//       password: secret
//       catch_all: true                  # every recipient no box owns (at most one box)
//
// Unknown keys are rejected; errors name file:line:col and the field, never a password.
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "fake_pop3/provider.hpp"

namespace dropcheck::fake_pop3 {

// Parses mailboxes YAML; `origin` names it in errors. A password_file is read relative to the
// current directory (as --password-file). Error code "bad-mailboxes".
base::Result<std::vector<Mailbox>> parse_mailboxes(std::string_view yaml, std::string_view origin);
// Reads and parses `path` (error code "no-mailboxes" when it cannot be read).
base::Result<std::vector<Mailbox>> load_mailboxes(const std::string& path);

}  // namespace dropcheck::fake_pop3
