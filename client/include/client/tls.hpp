#pragma once
// Client TLS: one way to build the context and one way to say why a handshake failed.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "net/asio.hpp"

namespace dropcheck::client {

enum class TlsMode { none, stls, implicit };
std::string_view to_string(TlsMode m);
// "none", "stls", "implicit" (as to_string writes them); nullopt for anything else.
std::optional<TlsMode> parse_tls_mode(std::string_view name);

struct TlsSettings {
  bool verify = true;   // the chain must verify and name the configured host
  std::string ca_file;  // empty: the system's CAs
};

// A client context. Error "ca-file" when the CA file cannot be loaded (names the file).
base::Result<std::shared_ptr<net::ssl::context>> make_context(const TlsSettings& settings);

// Why a client handshake to `host` failed, in words an admin can act on: which check failed
// (self-signed, unknown CA, expired, not yet valid, name mismatch) and what to set (ca_file,
// or the explicit verify_certificate: false).
std::string describe_handshake_failure(long verify_result, const net::error_code& ec,
                                       std::string_view host, const TlsSettings& settings);

}  // namespace dropcheck::client
