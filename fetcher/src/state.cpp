#include "fetcher/state.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace dropcheck::fetcher {

base::Result<AccountState> load_state(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return AccountState{};
  std::ostringstream ss;
  ss << in.rdbuf();
  AccountState st;
  try {
    const auto j = nlohmann::json::parse(ss.str());
    if (j.value("version", 0) != 1)
      return base::make_error("bad-state", fmt::format("{}: unsupported state version", path));
    for (const auto& u : j.at("settled")) st.settled_uidls.insert(u.get<std::string>());
    for (const auto& [uidl, rcpts] : j.at("progress").items())
      for (const auto& r : rcpts) st.progress[uidl].insert(r.get<std::string>());
    for (const auto& k : j.at("delivered_keys")) st.delivered_keys.insert(k.get<std::string>());
    st.last_login_ms = j.value("last_login_ms", std::int64_t{0});
    st.login_delay_ms = j.value("login_delay_ms", std::int64_t{0});
  } catch (const nlohmann::json::exception& e) {
    return base::make_error("bad-state", fmt::format("{}: corrupt state file: {}", path, e.what()));
  }
  return st;
}

base::Status save_state(const std::string& path, const AccountState& st) {
  nlohmann::json j;
  j["version"] = 1;
  j["settled"] = st.settled_uidls;
  j["progress"] = nlohmann::json::object();
  for (const auto& [uidl, rcpts] : st.progress) j["progress"][uidl] = rcpts;
  j["delivered_keys"] = st.delivered_keys;
  j["last_login_ms"] = st.last_login_ms;
  j["login_delay_ms"] = st.login_delay_ms;
  const std::string text = j.dump(1) + "\n";
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return base::make_error("state-io", fmt::format("{}: {}", tmp, std::strerror(errno)));
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return base::make_error("state-io", fmt::format("{}: {}", tmp, std::strerror(e)));
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    return base::make_error("state-io", fmt::format("{}: fsync: {}", tmp, std::strerror(errno)));
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return base::make_error("state-io", fmt::format("{}: rename: {}", path, std::strerror(errno)));
  return base::ok_status();
}

base::Result<CycleLock> CycleLock::acquire(const std::string& path, bool wait) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return base::make_error("lock-io", fmt::format("{}: {}", path, std::strerror(errno)));
  if (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK)
      return base::make_error("locked",
                              fmt::format("{}: another fetch cycle is running", path));
    return base::make_error("lock-io", fmt::format("{}: {}", path, std::strerror(e)));
  }
  return CycleLock(fd);
}

CycleLock::~CycleLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace dropcheck::fetcher
