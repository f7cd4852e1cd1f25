#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "service/engine/bundle_load.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

// Reads bundle.yaml into `config`.
void ReadConfig(const BundleFiles& files, BundleConfig& config, std::vector<std::string>& errors) {
  auto it = files.files.find("bundle.yaml");
  if (it == files.files.end()) {
    errors.push_back("bundle.yaml:1: missing (a bundle needs bundle.yaml at its root)");
    return;
  }
  absl::StatusOr<Value> cfg = ParseYaml(it->second, "bundle.yaml");
  if (!cfg.ok()) {
    errors.push_back(std::string(cfg.status().message()));
    return;
  }
  if (!cfg->is_map()) {
    errors.push_back("bundle.yaml:1: expected a map with revision, defaults and limits");
    return;
  }
  // A message about the entry `at` (its key's line); line 1 for what is missing.
  auto err = [&](const Value* at, absl::string_view msg) {
    int line = at != nullptr && at->line() > 0 ? at->line() : 1;
    errors.push_back(absl::StrCat("bundle.yaml:", line, ": ", msg));
  };
  for (const auto& [key, v] : cfg->as_map()) {
    if (key == "revision") {
      if (v.is_string()) {
        config.revision = v.as_string();
      } else if (v.is_number()) {
        config.revision = v.ToJson();
      } else {
        err(&v, "revision must be a string");
      }
    } else if (key == "defaults") {
      if (!v.is_map()) {
        err(&v, "defaults must map kinds to allow or deny");
        continue;
      }
      for (const auto& [kind, eff] : v.as_map()) {
        Effect* target = kind == "access"       ? &config.defaults.access
                         : kind == "product"    ? &config.defaults.product
                         : kind == "deployment" ? &config.defaults.deployment
                                                : nullptr;
        if (target == nullptr) {
          err(&eff, absl::StrCat("defaults: unknown kind \"", kind, "\""));
        } else if (eff.is_string() && (eff.as_string() == "allow" || eff.as_string() == "deny")) {
          *target = eff.as_string() == "allow" ? Effect::kAllow : Effect::kDeny;
        } else {
          err(&eff, absl::StrCat("defaults.", kind, ": expected allow or deny"));
        }
      }
    } else if (key == "limits") {
      if (!v.is_map()) {
        err(&v, "limits must be a map");
        continue;
      }
      for (const auto& [name, lv] : v.as_map()) {
        if (!lv.is_int() || lv.as_int() <= 0) {
          err(&lv, absl::StrCat("limits.", name, ": expected a positive integer"));
          continue;
        }
        int64_t n = lv.as_int();
        EngineLimits& l = config.limits;
        if (name == "instruction_budget") {
          l.instruction_budget = n;
        } else if (name == "policy_timeout_ms") {
          l.policy_timeout = absl::Milliseconds(n);
        } else if (name == "memory_limit_mb") {
          l.memory_limit_bytes = static_cast<size_t>(n) << 20;
        } else if (name == "max_policy_kb") {
          l.max_policy_bytes = static_cast<size_t>(n) << 10;
        } else if (name == "max_message_bytes") {
          l.max_message_bytes = static_cast<size_t>(n);
        } else if (name == "max_pattern_subject_bytes") {
          l.max_pattern_subject_bytes = static_cast<size_t>(n);
        } else if (name == "max_string_bytes") {
          l.max_string_bytes = static_cast<size_t>(n);
        } else {
          err(&lv, absl::StrCat("limits: unknown key \"", name, "\""));
        }
      }
      if (config.limits.memory_limit_bytes < (1 << 20)) {
        err(v.Find("memory_limit_mb"), "limits.memory_limit_mb must be at least 1");
      }
    } else if (key == "diff_rules") {
      // A council that is stricter or looser than datacontract-cli reclassifies rules by name.
      if (!v.is_map()) {
        err(&v, "diff_rules must map rule names to breaking, warning or info");
        continue;
      }
      for (const auto& [rule, cls] : v.as_map()) {
        std::optional<DiffRule> r = FindDiffRule(rule);
        std::optional<ChangeClass> c =
            cls.is_string() ? ParseChangeClass(cls.as_string()) : std::nullopt;
        if (!r.has_value()) {
          err(&cls, absl::StrCat("diff_rules: unknown rule \"", CleanId(rule),
                                 "\" (the rules are in docs/diff-rules.md)"));
        } else if (!c.has_value()) {
          err(&cls, absl::StrCat("diff_rules.", rule, ": expected breaking, warning or info"));
        } else {
          config.diff_classes[static_cast<size_t>(*r)] = *c;
        }
      }
    } else if (key == "waivers") {
      if (auto e = ParseWaiverSettings(v, config.waiver_settings)) err(&v, *e);
    } else {
      err(&v, absl::StrCat("unknown key \"", key,
                           "\" (allowed: revision, defaults, limits, diff_rules, waivers)"));
    }
  }
  if (config.revision.empty()) err(nullptr, "revision: required");
}

// Lowers every limit of `l` to at most the ceiling's.
void ClampLimits(const EngineLimits& ceiling, EngineLimits& l) {
  l.instruction_budget = std::min(l.instruction_budget, ceiling.instruction_budget);
  l.policy_timeout = std::min(l.policy_timeout, ceiling.policy_timeout);
  l.memory_limit_bytes = std::min(l.memory_limit_bytes, ceiling.memory_limit_bytes);
  l.max_policy_bytes = std::min(l.max_policy_bytes, ceiling.max_policy_bytes);
  l.max_bundle_policy_bytes = std::min(l.max_bundle_policy_bytes, ceiling.max_bundle_policy_bytes);
  l.max_message_bytes = std::min(l.max_message_bytes, ceiling.max_message_bytes);
  l.max_pattern_subject_bytes =
      std::min(l.max_pattern_subject_bytes, ceiling.max_pattern_subject_bytes);
  l.max_string_bytes = std::min(l.max_string_bytes, ceiling.max_string_bytes);
}

}  // namespace

void ParseBundleConfig(const BundleFiles& files, const EngineLimits* max_limits,
                       BundleConfig& config, std::vector<std::string>& errors) {
  ReadConfig(files, config, errors);
  if (max_limits != nullptr) ClampLimits(*max_limits, config.limits);
}

}  // namespace arbiter
