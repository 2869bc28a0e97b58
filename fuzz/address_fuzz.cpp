// libFuzzer target: address-list / mailbox-list / addr-spec parsing on arbitrary bytes, and
// format -> parse stability of whatever parsed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "mail/address.hpp"

namespace mail = dropcheck::mail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto list = mail::parse_address_list(in);
  if (!list.ok()) {
    FUZZ_CHECK(list.error().message.find("at offset ") != std::string::npos);
  } else {
    for (const mail::Address& a : *list) {
      FUZZ_CHECK(!a.local_part.empty());
      FUZZ_CHECK(!a.domain.empty());
      const std::string spec = a.addr_spec();
      FUZZ_CHECK(mail::normalize_address(spec) == spec);
      FUZZ_CHECK(!mail::domain_of(spec).empty());
      auto ascii = mail::domain_to_ascii(a.domain);
      if (ascii.ok()) {
        for (char ch : *ascii) FUZZ_CHECK(static_cast<unsigned char>(ch) < 0x80);
        FUZZ_CHECK(mail::same_domain(a.domain, *ascii));
      }
      (void)mail::decode_encoded_words(a.display_name);
    }
    // Formatting what we parsed and parsing it again gives the same addresses.
    const std::string text = mail::format_address_list(*list);
    auto back = mail::parse_address_list(text);
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(back->size() == list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
      FUZZ_CHECK((*back)[i].display_name == (*list)[i].display_name);
      FUZZ_CHECK((*back)[i].local_part == (*list)[i].local_part);
      FUZZ_CHECK((*back)[i].domain == (*list)[i].domain);
      FUZZ_CHECK((*back)[i].group == (*list)[i].group);
    }
  }
  // A mailbox list is an address list without groups.
  auto boxes = mail::parse_mailbox_list(in);
  if (boxes.ok()) {
    FUZZ_CHECK(list.ok());
    FUZZ_CHECK(boxes->size() == list->size());
  }
  auto one = mail::parse_addr_spec(in);
  if (one.ok()) {
    FUZZ_CHECK(list.ok() || in.find('<') != std::string_view::npos);
  }
  (void)mail::decode_encoded_words(in);
  (void)mail::normalize_address(in);
  (void)mail::domain_of(in);
  return 0;
}
