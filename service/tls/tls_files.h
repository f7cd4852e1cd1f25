// The server's TLS material as files on disk (the `tls:` config section), and GnuTLS credentials
// built from them for the HTTP side port. The gRPC port reads the same files through gRPC's own
// file watcher; both re-read them when they change, so a certificate that cert-manager or SPIRE
// rotates in place is served without a restart.
//
//   auto creds = GnutlsCredentials::Load(files);   // INVALID_ARGUMENT naming the bad file
//   std::shared_ptr<const GnutlsCredentials::Generation> g = (*creds)->Current();
//
// Thread-safe: Current() may be called from any handshake; a rotation swaps in a new Generation
// while handshakes in progress keep the one they hold.
#ifndef ARBITER_SERVICE_TLS_TLS_FILES_H_
#define ARBITER_SERVICE_TLS_TLS_FILES_H_

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace arbiter::tls {

// The `tls:` section of the server config.
struct TlsFiles {
  std::string cert_file;       // PEM certificate chain, leaf first
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM CAs that verify client certificates
  enum class ClientAuth { kRequire, kRequest, kNone };
  // require: a verified client certificate or no handshake; request: verified when presented,
  // else the caller is anonymous; none: never asked.
  ClientAuth client_auth = ClientAuth::kRequire;
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// What a verified client certificate says about its holder (empty when there was none).
struct PeerCertificate {
  bool present = false;
  std::vector<std::string> uri_sans;
  std::vector<std::string> dns_sans;
  std::string common_name;
};

// Reads the names of a DER certificate.
PeerCertificate DescribeCertificate(const gnutls_datum_t& der);

class GnutlsCredentials {
 public:
  // One loaded set of files. Never freed while the process runs: GnuTLS may still hold its
  // certificate in a session, and rotations are rare (a few per day at most).
  struct Generation {
    std::vector<gnutls_pcert_st> chain;
    gnutls_privkey_t key = nullptr;
    gnutls_x509_trust_list_t trust = nullptr;  // null when client_auth is none
  };

  static absl::StatusOr<std::unique_ptr<GnutlsCredentials>> Load(const TlsFiles& files);

  // The current generation; re-reads the files first when they changed (checked at most once
  // per `recheck`). A rotation that does not load (a key that does not match its certificate,
  // half-written files) keeps the previous generation and is retried.
  std::shared_ptr<const Generation> Current();

  // Verifies a client's certificate chain (DER, leaf first) against the current CAs, for
  // client authentication. OK or the reason.
  absl::Status VerifyClient(const gnutls_datum_t* chain, unsigned length);

  const TlsFiles& files() const { return files_; }

 private:
  explicit GnutlsCredentials(TlsFiles files) : files_(std::move(files)) {}
  absl::StatusOr<std::shared_ptr<const Generation>> Read() const;
  std::string Fingerprint() const;

  const TlsFiles files_;
  const absl::Duration recheck_ = absl::Seconds(1);
  absl::Mutex mu_;
  std::shared_ptr<const Generation> current_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<const Generation>> retired_ ABSL_GUARDED_BY(mu_);
  std::string fingerprint_ ABSL_GUARDED_BY(mu_);
  absl::Time checked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace arbiter::tls

#endif  // ARBITER_SERVICE_TLS_TLS_FILES_H_
