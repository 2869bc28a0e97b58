#pragma once
// Helpers for fake-smtp tests: a temporary directory and a driver for Receiver sessions.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "fake_smtp/fake_smtp.hpp"

namespace dropcheck::fake_smtp::test {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> n{0};
    path_ = std::filesystem::temp_directory_path() /
            ("fake-smtp-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs one session of `receiver` on `input` fed in `chunk`-octet pieces; returns every output.
inline std::string talk(Receiver& receiver, std::string_view input, std::size_t chunk = 0,
                        std::string_view end_reason = "peer-closed") {
  net::Peer peer{"127.0.0.1", 40000, false};
  auto s = receiver.make_session(peer);
  std::string out = s->start();
  if (chunk == 0) chunk = input.empty() ? 1 : input.size();
  for (std::size_t i = 0; i < input.size() && !s->closing(); i += chunk)
    s->receive(input.substr(i, chunk), out);
  out += s->finish(s->closing() ? "closed" : end_reason);
  return out;
}

}  // namespace dropcheck::fake_smtp::test
