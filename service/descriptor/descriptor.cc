#include "service/descriptor/descriptor.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace arbiter {

constexpr std::array<DescriptorFactRule, 3> kDescriptorFactRules = {{
    {DescriptorFact::kName, "name", {"metadata.name", "name", "id"}},
    {DescriptorFact::kVersion, "version", {"metadata.version", "version", "info.version"}},
    {DescriptorFact::kDomain, "domain", {"metadata.domain", "domain", ""}},
}};

namespace {

constexpr bool IndexedByFact() {
  for (size_t i = 0; i < kDescriptorFactRules.size(); ++i) {
    if (static_cast<size_t>(kDescriptorFactRules[i].fact) != i) return false;
  }
  return true;
}
static_assert(IndexedByFact());

const Value* FindDotted(const Value& doc, absl::string_view dotted) {
  const Value* at = &doc;
  for (absl::string_view part : absl::StrSplit(dotted, '.')) {
    if (!at->is_map()) return nullptr;
    at = at->Find(part);
    if (at == nullptr) return nullptr;
  }
  return at;
}

}  // namespace

DescriptorField FindDescriptorField(const Value& doc, DescriptorFact fact) {
  DescriptorField out;
  if (!doc.is_map()) return out;
  for (absl::string_view key : kDescriptorFactRules[static_cast<size_t>(fact)].keys) {
    if (key.empty()) break;
    const Value* v = FindDotted(doc, key);
    if (v == nullptr || v->is_null()) continue;
    out.value = v;
    out.key = key;
    // Only scalars name a document: a name written as a large map must not multiply into
    // every change the diff reports about it.
    out.text = DescriptorText(*v).value_or("");
    return out;
  }
  return out;
}

std::optional<std::string> DescriptorText(const Value& v) {
  switch (v.type()) {
    case Value::Type::kString:
      return v.as_string();
    case Value::Type::kInt:
      return absl::StrCat(v.as_int());
    case Value::Type::kDouble: {
      double d = v.as_double();
      if (!std::isfinite(d)) return std::nullopt;
      // The shortest precision that reads back as the same double.
      char buf[40];
      for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, d);
        if (std::strtod(buf, nullptr) == d) break;
      }
      return std::string(buf);
    }
    case Value::Type::kBool:
      return std::string(v.as_bool() ? "true" : "false");
    default:
      return std::nullopt;
  }
}

std::string DescriptorName(const Value& doc) {
  return FindDescriptorField(doc, DescriptorFact::kName).text;
}

std::string DescriptorVersion(const Value& doc) {
  return FindDescriptorField(doc, DescriptorFact::kVersion).text;
}

std::string DescriptorDomain(const Value& doc) {
  return FindDescriptorField(doc, DescriptorFact::kDomain).text;
}

std::string DescriptorKeys(DescriptorFact fact) {
  std::vector<absl::string_view> keys;
  for (absl::string_view k : kDescriptorFactRules[static_cast<size_t>(fact)].keys) {
    if (!k.empty()) keys.push_back(k);
  }
  if (keys.size() < 2) return absl::StrJoin(keys, "");
  return absl::StrCat(absl::StrJoin(keys.begin(), keys.end() - 1, ", "), " or ", keys.back());
}

}  // namespace arbiter
