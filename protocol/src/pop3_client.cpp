#include "protocol/pop3_client.hpp"

#include "base/strings.hpp"

namespace dropcheck::protocol {

Pop3Status parse_pop3_status(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  Pop3Status st;
  std::string_view rest;
  if (line.substr(0, 3) == "+OK") {
    st.ok = st.valid = true;
    rest = line.substr(3);
  } else if (line.substr(0, 4) == "-ERR") {
    st.valid = true;
    rest = line.substr(4);
  } else {
    st.text = std::string(line);
    return st;
  }
  if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close != std::string_view::npos) {
      st.resp_code = base::to_lower(rest.substr(1, close - 1));
      for (char& c : st.resp_code) c = static_cast<char>((c >= 'a' && c <= 'z') ? c - 32 : c);
      rest.remove_prefix(close + 1);
      if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    }
  }
  st.text = std::string(rest);
  return st;
}

}  // namespace dropcheck::protocol
