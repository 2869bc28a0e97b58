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

namespace {

// Replays PATH.log over `st`. A line that does not parse is only acceptable as the torn last one.
base::Status replay_log(const std::string& path, AccountState& st) {
  std::ifstream in(path + ".log", std::ios::binary);
  if (!in) return base::ok_status();
  std::string line;
  std::size_t n = 0;
  std::string pending_error;
  while (std::getline(in, line)) {
    ++n;
    if (!pending_error.empty())
      return base::make_error("bad-state", pending_error);  // a bad line that was not the last
    if (in.eof()) break;  // no newline: torn last line, never acknowledged
    try {
      const auto j = nlohmann::json::parse(line);
      const std::string t = j.at("t").get<std::string>();
      if (t == "s") {
        const std::string u = j.at("u").get<std::string>();
        st.settled_uidls.insert(u);
        st.progress.erase(u);
        st.held.erase(u);
      } else if (t == "d") {
        const std::string u = j.at("u").get<std::string>();
        const std::string r = j.at("r").get<std::string>();
        if (!u.empty()) st.progress[u].insert(r);
        const std::string k = j.at("k").get<std::string>();
        if (!k.empty()) st.delivered_keys.emplace(k + " " + r, j.value("at", std::int64_t{-1}));
      } else if (t == "h") {
        st.held[j.at("u").get<std::string>()] =
            Hold{j.at("n").get<int>(), j.at("nb").get<std::int64_t>(), j.value("why", "")};
      } else if (t == "l") {
        st.last_login_ms = j.at("at").get<std::int64_t>();
        st.login_delay_ms = j.at("d").get<std::int64_t>();
      } else {
        pending_error = fmt::format("{}.log:{}: unknown record type '{}'", path, n, t);
      }
    } catch (const nlohmann::json::exception& e) {
      pending_error = fmt::format("{}.log:{}: corrupt record: {}", path, n, e.what());
    }
  }
  return base::ok_status();
}

}  // namespace

base::Result<AccountState> load_state(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    AccountState fresh;
    auto r = replay_log(path, fresh);
    if (!r.ok()) return r.error();
    return fresh;
  }
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
    const auto& keys = j.at("delivered_keys");
    if (keys.is_array()) {  // before retention: no times
      for (const auto& k : keys) st.delivered_keys.emplace(k.get<std::string>(), -1);
    } else {
      for (const auto& [k, at] : keys.items()) st.delivered_keys.emplace(k, at.get<std::int64_t>());
    }
    st.last_login_ms = j.value("last_login_ms", std::int64_t{0});
    st.login_delay_ms = j.value("login_delay_ms", std::int64_t{0});
    if (j.contains("held"))
      for (const auto& [u, h] : j.at("held").items())
        st.held[u] = Hold{h.at("n").get<int>(), h.at("nb").get<std::int64_t>(), h.value("why", "")};
  } catch (const nlohmann::json::exception& e) {
    return base::make_error("bad-state", fmt::format("{}: corrupt state file: {}", path, e.what()));
  }
  auto r = replay_log(path, st);
  if (!r.ok()) return r.error();
  return st;
}

base::Status save_state(const std::string& path, const AccountState& st) {
  nlohmann::json j;
  j["version"] = 1;
  j["settled"] = st.settled_uidls;
  j["progress"] = nlohmann::json::object();
  for (const auto& [uidl, rcpts] : st.progress) j["progress"][uidl] = rcpts;
  j["delivered_keys"] = nlohmann::json::object();
  for (const auto& [k, at] : st.delivered_keys) j["delivered_keys"][k] = at;
  j["last_login_ms"] = st.last_login_ms;
  j["login_delay_ms"] = st.login_delay_ms;
  j["held"] = nlohmann::json::object();
  for (const auto& [u, h] : st.held)
    j["held"][u] = nlohmann::json{{"n", h.failures}, {"nb", h.not_before_ms}, {"why", h.reason}};
  const std::string text = j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return base::make_error("state-io", fmt::format("{}: {}", tmp, std::strerror(errno)));
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
  // The snapshot now holds everything the log said: empty the log.
  if (::truncate((path + ".log").c_str(), 0) != 0 && errno != ENOENT)
    return base::make_error("state-io",
                            fmt::format("{}.log: truncate: {}", path, std::strerror(errno)));
  return base::ok_status();
}

bool state_log_needs_compaction(const std::string& path, std::uintmax_t max_octets) {
  std::ifstream in(path + ".log", std::ios::binary | std::ios::ate);
  if (!in) return false;
  const std::streamoff size = in.tellg();
  if (size <= 0) return false;
  if (static_cast<std::uintmax_t>(size) > max_octets) return true;
  in.seekg(size - 1);
  return in.get() != '\n';
}

void prune_delivered_keys(AccountState& st, std::int64_t now_ms, std::int64_t retention_ms) {
  for (auto it = st.delivered_keys.begin(); it != st.delivered_keys.end();) {
    if (it->second < 0) it->second = now_ms;
    if (now_ms - it->second > retention_ms)
      it = st.delivered_keys.erase(it);
    else
      ++it;
  }
}

StateLog::~StateLog() {
  if (fd_ >= 0) ::close(fd_);
}

base::Status StateLog::append(const std::string& line) {
  if (fd_ < 0) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0)
      return base::make_error("state-io", fmt::format("{}: {}", path_, std::strerror(errno)));
  }
  const std::string data = line + "\n";
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::make_error("state-io", fmt::format("{}: {}", path_, std::strerror(errno)));
    }
    off += static_cast<std::size_t>(n);
  }
  ++unsynced_;
  return base::ok_status();
}

base::Status StateLog::sync() {
  if (unsynced_ == 0) return base::ok_status();
  if (::fdatasync(fd_) != 0)
    return base::make_error("state-io",
                            fmt::format("{}: fdatasync: {}", path_, std::strerror(errno)));
  unsynced_ = 0;
  return base::ok_status();
}

base::Status StateLog::settled(const std::string& uidl) {
  return append(nlohmann::json{{"t", "s"}, {"u", uidl}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace));
}

base::Status StateLog::delivered(const std::string& uidl, const std::string& rcpt,
                                 const std::string& key, std::int64_t at_ms) {
  return append(
      nlohmann::json{{"t", "d"}, {"u", uidl}, {"r", rcpt}, {"k", key}, {"at", at_ms}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace));
}

base::Status StateLog::login(std::int64_t at_ms, std::int64_t delay_ms) {
  return append(nlohmann::json{{"t", "l"}, {"at", at_ms}, {"d", delay_ms}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace));
}

base::Status StateLog::held(const std::string& uidl, const Hold& hold) {
  return append(nlohmann::json{
      {"t", "h"},
      {"u", uidl},
      {"n", hold.failures},
      {"nb", hold.not_before_ms},
      {"why",
       hold.reason}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

base::Result<CycleLock> CycleLock::acquire(const std::string& path, bool wait) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return base::make_error("lock-io", fmt::format("{}: {}", path, std::strerror(errno)));
  if (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK)
      return base::make_error("locked", fmt::format("{}: another fetch cycle is running", path));
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
