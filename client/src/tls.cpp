#include "client/tls.hpp"

#include <fmt/format.h>
#include <openssl/x509_vfy.h>

namespace dropcheck::client {

namespace ssl = net::ssl;

std::string_view to_string(TlsMode m) {
  switch (m) {
    case TlsMode::none:
      return "none";
    case TlsMode::stls:
      return "stls";
    case TlsMode::implicit:
      return "implicit";
  }
  return "?";
}

std::optional<TlsMode> parse_tls_mode(std::string_view name) {
  for (const TlsMode m : {TlsMode::none, TlsMode::stls, TlsMode::implicit})
    if (to_string(m) == name) return m;
  return std::nullopt;
}

base::Result<std::shared_ptr<ssl::context>> make_context(const TlsSettings& settings) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  if (!settings.verify) {
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(ssl::verify_peer);
  net::error_code ec;
  if (!settings.ca_file.empty()) {
    ctx->load_verify_file(settings.ca_file, ec);
    if (ec)
      return base::make_error(
          "ca-file", fmt::format("cannot load CA file {}: {}", settings.ca_file, ec.message()));
  } else {
    ctx->set_default_verify_paths(ec);
    if (ec) return base::make_error("ca-file", "cannot load the system CAs: " + ec.message());
  }
  return ctx;
}

namespace {

// The certificate check that failed, in words; "" when it was not a certificate failure.
std::string_view certificate_problem(long result) {
  switch (result) {
    case X509_V_OK:
      return "";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return "the certificate is self-signed";
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return "the chain ends in a self-signed CA that is not trusted";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return "the certificate's CA is unknown";
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "the certificate has expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "the certificate is not yet valid";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "the certificate does not name the host";
    default:
      return X509_verify_cert_error_string(result);
  }
}

}  // namespace

std::string describe_handshake_failure(long verify_result, const net::error_code& ec,
                                       std::string_view host, const TlsSettings& settings) {
  const std::string_view problem = certificate_problem(verify_result);
  if (problem.empty()) return fmt::format("TLS handshake with {}: {}", host, ec.message());
  std::string hint;
  if (verify_result == X509_V_ERR_HOSTNAME_MISMATCH ||
      verify_result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    hint = "set host to a name the certificate carries";
  } else if (verify_result == X509_V_ERR_CERT_HAS_EXPIRED ||
             verify_result == X509_V_ERR_CERT_NOT_YET_VALID) {
    hint = "the provider must renew it (or check this machine's clock)";
  } else {
    hint = settings.ca_file.empty()
               ? "set ca_file to the CA that signed it"
               : fmt::format("ca_file {} does not hold the CA that signed it", settings.ca_file);
  }
  return fmt::format(
      "TLS certificate of {} not accepted: {} ({}; or verify_certificate: false to skip the "
      "check, not recommended)",
      host, problem, hint);
}

}  // namespace dropcheck::client
