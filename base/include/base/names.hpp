#pragma once
// An enum's names, written once as a table of {value, name} pairs: the name of a value, the
// value of a name, and the list of names for error messages ("known: a, b, c").
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace dropcheck::base {

template <class E>
using NameTable = std::span<const std::pair<E, std::string_view>>;

template <class E>
std::string_view name_of(NameTable<E> table, E value) {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  return "?";
}

template <class E>
std::optional<E> value_of(NameTable<E> table, std::string_view name) {
  for (const auto& [v, n] : table)
    if (n == name) return v;
  return std::nullopt;
}

// "a, b, c"; `skip`: a value left out of the list (the default of an optional setting, say).
template <class E>
std::string names_of(NameTable<E> table, std::optional<E> skip = std::nullopt) {
  std::string out;
  for (const auto& [v, name] : table)
    if (!skip || v != *skip) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

}  // namespace dropcheck::base
