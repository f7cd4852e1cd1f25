#include "service/authzen/routes.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "service/authz/authz.h"
#include "service/authzen/translate.h"
#include "service/explain/explain.h"

namespace arbiter::authzen {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kEvaluationPath[] = "/access/v1/evaluation";
constexpr char kEvaluationsPath[] = "/access/v1/evaluations";
constexpr char kMetadataPath[] = "/.well-known/authzen-configuration";

HttpResponse Error(int status, absl::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = std::string(message);
  return r;
}

// A Host header that can be part of a URL: a name or address and an optional port.
bool SafeHost(absl::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
        c != '[' && c != ']') {
      return false;
    }
  }
  return true;
}

class AuthzenEndpoint {
 public:
  AuthzenEndpoint(Decider& decider, const ServerConfig& config)
      : decider_(decider),
        base_url_(config.authzen_base_url),
        deadline_(config.default_deadline),
        max_items_(static_cast<size_t>(config.max_batch_size)) {}

  HttpResponse Evaluation(const HttpRequest& http) {
    absl::StatusOr<CallerInfo> caller = Caller(http);
    if (!caller.ok()) return WithRequestId(http, Error(403, caller.status().message()));
    absl::StatusOr<AccessRequest> request = ParseEvaluation(http.body);
    if (!request.ok()) return WithRequestId(http, Error(400, request.status().message()));
    Stamp(http, *request);
    absl::StatusOr<Decision> d = decider_.Decide(*request, absl::Now() + deadline_, *caller);
    if (!d.ok()) return WithRequestId(http, Failure(d.status()));
    return WithRequestId(http, Json(DecisionJson(*d, Explain(*caller, *d))));
  }

  HttpResponse Evaluations(const HttpRequest& http) {
    absl::StatusOr<authzen::Evaluations> batch = ParseEvaluations(http.body, max_items_);
    if (!batch.ok()) return WithRequestId(http, Error(400, batch.status().message()));
    absl::StatusOr<CallerInfo> asking = Caller(http);
    if (!asking.ok()) return WithRequestId(http, Error(403, asking.status().message()));
    const CallerInfo& caller = *asking;
    if (batch->single) return WithRequestId(http, Single(caller, http, batch->items.front()));
    for (AccessRequest& r : batch->items) Stamp(http, r);
    absl::Time deadline = absl::Now() + deadline_;
    std::vector<std::string> answers;
    if (batch->semantic == Semantic::kExecuteAll) {
      // Each decision's answer is written by the thread that made it, once its log line is made,
      // and the decision freed there (Decider::KeepFn); this thread joins the answers.
      answers.resize(batch->items.size());
      auto answer = [&](size_t i, Decision& d) {
        answers[i] = DecisionJson(d, Explain(caller, d));
        d = Decision();
      };
      std::string revision;
      auto decisions = decider_.DecideBatch(std::move(batch->items), deadline, caller, &revision,
                                            nullptr, answer);
      for (size_t i = 0; i < decisions.size(); ++i) {
        if (decisions[i].ok()) continue;
        absl::StatusOr<std::string> a = Answer(caller, decisions[i]);
        if (!a.ok()) return WithRequestId(http, Failure(a.status()));
        answers[i] = *std::move(a);
      }
    } else {
      const bool stop_on_allow = batch->semantic == Semantic::kPermitOnFirstPermit;
      for (size_t i = 0; i < batch->items.size(); ++i) {
        absl::StatusOr<Decision> d = decider_.Decide(batch->items[i], deadline, caller);
        absl::StatusOr<std::string> a = Answer(caller, d);
        if (!a.ok()) return WithRequestId(http, Failure(a.status()));
        answers.push_back(*std::move(a));
        // A malformed evaluation counts as a denial (the specification: "error, or decision
        // false").
        bool allowed = d.ok() && d->effect == Effect::kAllow;
        if (allowed == stop_on_allow) break;
      }
    }
    return WithRequestId(
        http, Json(absl::StrCat("{\"evaluations\":[", absl::StrJoin(answers, ","), "]}")));
  }

  HttpResponse Metadata(const HttpRequest& http) {
    std::string base = base_url_;
    if (base.empty()) {
      std::string host = http.Header("Host");
      if (!SafeHost(host)) return Error(400, "Host: required (a host name or address and port)");
      base = absl::StrCat("http://", host);
    }
    nlohmann::ordered_json j = {{"policy_decision_point", base},
                                {"access_evaluation_endpoint", base + kEvaluationPath},
                                {"access_evaluations_endpoint", base + kEvaluationsPath}};
    return Json(j.dump());
  }

 private:
  static HttpResponse Json(std::string body) {
    HttpResponse r;
    r.content_type = kJson;
    r.body = std::move(body);
    return r;
  }

  static HttpResponse WithRequestId(const HttpRequest& http, HttpResponse r) {
    if (std::string id = http.Header("X-Request-ID"); !id.empty()) {
      r.headers.emplace_back("X-Request-ID", std::move(id));
    }
    return r;
  }

  // Could not decide: the PEP must fail closed, so never a decision.
  static HttpResponse Failure(const absl::Status& s) {
    if (s.code() == absl::StatusCode::kInvalidArgument) return Error(400, s.message());
    return Error(500, absl::StrCat("could not decide: ", s.message()));
  }

  // The caller, authenticated and authorized to decide by the side port's authorizer before this
  // handler ran. `?explain=true` asks for each decision's trace (context.explain): governance
  // callers only, anyone else gets a 403 (PERMISSION_DENIED's message).
  static absl::StatusOr<CallerInfo> Caller(const HttpRequest& http) {
    CallerInfo c;
    c.transport = "http";
    c.peer = http.remote_address;
    c.identity = http.caller_identity;
    c.role = http.caller_role;
    c.claimed = http.caller_claimed;
    if (QueryAsksExplain(http.query)) {
      if (absl::Status s =
              authz::Authorizer::AuthorizeRoleName(c.identity, c.role, authz::Operation::kExplain);
          !s.ok()) {
        return s;
      }
      c.explain = true;
    }
    return c;
  }

  static std::string Explain(const CallerInfo& caller, const Decision& d) {
    return caller.explain ? FormatExplain(d, Kind::kAccess) : "";
  }

  // The PEP's request id, for the decision log.
  static void Stamp(const HttpRequest& http, AccessRequest& r) {
    if (std::string id = http.Header("X-Request-ID"); !id.empty()) r.context["request_id"] = id;
  }

  // One decision of a batch: the Decision object, a per-evaluation error for a malformed one, or
  // (any other error) the status that fails the whole call.
  static absl::StatusOr<std::string> Answer(const CallerInfo& caller,
                                            const absl::StatusOr<Decision>& d) {
    if (d.ok()) return DecisionJson(*d, Explain(caller, *d));
    if (d.status().code() == absl::StatusCode::kInvalidArgument) {
      return EvaluationErrorJson(d.status());
    }
    return d.status();
  }

  HttpResponse Single(const CallerInfo& caller, const HttpRequest& http, AccessRequest request) {
    Stamp(http, request);
    absl::StatusOr<Decision> d = decider_.Decide(request, absl::Now() + deadline_, caller);
    if (!d.ok()) return Failure(d.status());
    return Json(DecisionJson(*d, Explain(caller, *d)));
  }

  Decider& decider_;
  const std::string base_url_;
  const absl::Duration deadline_;
  const size_t max_items_;
};

}  // namespace

void InstallAuthzenRoutes(HttpServer& http, Decider& decider, const ServerConfig& config) {
  auto endpoint = std::make_shared<AuthzenEndpoint>(decider, config);
  http.Handle("POST", kEvaluationPath,
              [endpoint](const HttpRequest& r) { return endpoint->Evaluation(r); });
  http.Handle("POST", kEvaluationsPath,
              [endpoint](const HttpRequest& r) { return endpoint->Evaluations(r); });
  http.Handle("GET", kMetadataPath,
              [endpoint](const HttpRequest& r) { return endpoint->Metadata(r); });
}

}  // namespace arbiter::authzen
