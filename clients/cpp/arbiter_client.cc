#include "clients/cpp/arbiter_client.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace arbiter::client {

absl::Status FromGrpcStatus(const grpc::Status& status, const char* method) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(method, ": ", status.error_message()));
}

namespace {

absl::StatusOr<std::string> ReadPem(const char* what, const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in || ss.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read a PEM file at ", path));
  }
  return ss.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientOptions& options) {
  if (options.tls_ca.empty() && options.tls_cert.empty() && options.tls_key.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("tls: a client certificate needs its key and vice versa");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.tls_ca.empty()) {
    auto ca = ReadPem("tls ca", options.tls_ca);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!options.tls_cert.empty()) {
    auto cert = ReadPem("tls cert", options.tls_cert);
    if (!cert.ok()) return cert.status();
    auto key = ReadPem("tls key", options.tls_key);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

namespace {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target, const ClientOptions& options,
                                           absl::Status& error) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  auto credentials = ChannelCredentialsFor(options);
  if (!credentials.ok()) {
    error = credentials.status();
    return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  }
  return grpc::CreateCustomChannel(target, *credentials, args);
}

template <typename Req, typename Resp, typename Stub>
absl::StatusOr<Resp> Call(const Stub& stub,
                          grpc::Status (Stub::element_type::*method)(grpc::ClientContext*,
                                                                     const Req&, Resp*),
                          grpc::ClientContext& ctx, const Req& req, const char* name) {
  Resp resp;
  grpc::Status s = ((*stub).*method)(&ctx, req, &resp);
  if (!s.ok()) return FromGrpcStatus(s, name);
  return resp;
}

}  // namespace

Client::Client(const std::string& target, ClientOptions options) : options_(options) {
  channel_ = MakeChannel(target, options_, init_error_);
  decisions_ = v1::DecisionService::NewStub(channel_);
  policies_ = v1::PolicyService::NewStub(channel_);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      decisions_(v1::DecisionService::NewStub(channel_)),
      policies_(v1::PolicyService::NewStub(channel_)) {}

void Client::Prepare(grpc::ClientContext& ctx) const {
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  if (!options_.caller.empty()) ctx.AddMetadata("x-arbiter-caller", options_.caller);
}

#define ARBITER_CLIENT_CALL(stub, Method, Req, Resp)                                              \
  absl::StatusOr<Resp> Client::Method(const Req& request) const {                                 \
    if (!init_error_.ok()) return init_error_;                                                    \
    grpc::ClientContext ctx;                                                                      \
    Prepare(ctx);                                                                                 \
    return Call<Req, Resp>(stub, &std::remove_reference_t<decltype(*stub)>::Method, ctx, request, \
                           #Method);                                                              \
  }

ARBITER_CLIENT_CALL(decisions_, CheckAccess, v1::AccessRequest, v1::Decision)
ARBITER_CLIENT_CALL(decisions_, CheckProduct, v1::ProductRequest, v1::Decision)
ARBITER_CLIENT_CALL(decisions_, CheckDeployment, v1::DeploymentRequest, v1::Decision)
ARBITER_CLIENT_CALL(decisions_, CheckBatch, v1::CheckBatchRequest, v1::CheckBatchResponse)
ARBITER_CLIENT_CALL(policies_, ValidateBundle, v1::ValidateBundleRequest,
                    v1::ValidateBundleResponse)
ARBITER_CLIENT_CALL(policies_, DryRun, v1::DryRunRequest, v1::DryRunResponse)
#undef ARBITER_CLIENT_CALL

absl::StatusOr<v1::GetStatusResponse> Client::GetStatus() const {
  if (!init_error_.ok()) return init_error_;
  grpc::ClientContext ctx;
  Prepare(ctx);
  v1::GetStatusResponse resp;
  grpc::Status s = policies_->GetStatus(&ctx, v1::GetStatusRequest(), &resp);
  if (!s.ok()) return FromGrpcStatus(s, "GetStatus");
  return resp;
}

absl::StatusOr<v1::ListPoliciesResponse> Client::ListPolicies(const std::string& domain) const {
  if (!init_error_.ok()) return init_error_;
  grpc::ClientContext ctx;
  Prepare(ctx);
  v1::ListPoliciesRequest req;
  req.set_domain(domain);
  v1::ListPoliciesResponse resp;
  grpc::Status s = policies_->ListPolicies(&ctx, req, &resp);
  if (!s.ok()) return FromGrpcStatus(s, "ListPolicies");
  return resp;
}

absl::StatusOr<v1::ReloadResponse> Client::Reload() const {
  if (!init_error_.ok()) return init_error_;
  grpc::ClientContext ctx;
  Prepare(ctx);
  v1::ReloadResponse resp;
  grpc::Status s = policies_->Reload(&ctx, v1::ReloadRequest(), &resp);
  if (!s.ok()) return FromGrpcStatus(s, "Reload");
  return resp;
}

absl::StatusOr<v1::Decision> Client::Check(const v1::DryRunCase& request) const {
  switch (request.request_case()) {
    case v1::DryRunCase::kAccess:
      return CheckAccess(request.access());
    case v1::DryRunCase::kProduct:
      return CheckProduct(request.product());
    case v1::DryRunCase::kDeployment:
      return CheckDeployment(request.deployment());
    default:
      return absl::InvalidArgumentError("request: required");
  }
}

}  // namespace arbiter::client
