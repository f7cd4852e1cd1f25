#include "service/tls/tls_files.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace arbiter::tls {
namespace {

absl::StatusOr<std::string> ReadFile(const char* field, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) return absl::InvalidArgumentError(absl::StrCat(field, ": cannot read ", path));
  return ss.str();
}

gnutls_datum_t Datum(const std::string& s) {
  return {reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())),
          static_cast<unsigned>(s.size())};
}

absl::Status GnutlsError(const char* field, const std::string& path, int rc) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", path, ": ", gnutls_strerror(rc)));
}

}  // namespace

PeerCertificate DescribeCertificate(const gnutls_datum_t& der) {
  PeerCertificate out;
  gnutls_x509_crt_t crt;
  if (gnutls_x509_crt_init(&crt) < 0) return out;
  if (gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) >= 0) {
    out.present = true;
    char buf[1024];
    for (unsigned seq = 0;; ++seq) {
      size_t size = sizeof(buf);
      int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &size, nullptr);
      if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
      if (type == GNUTLS_SAN_URI) out.uri_sans.emplace_back(buf, size);
      if (type == GNUTLS_SAN_DNSNAME) out.dns_sans.emplace_back(buf, size);
      if (type < 0 && type != GNUTLS_E_SHORT_MEMORY_BUFFER) break;
    }
    size_t size = sizeof(buf);
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) >= 0) {
      out.common_name.assign(buf, size);
    }
  }
  gnutls_x509_crt_deinit(crt);
  return out;
}

absl::StatusOr<std::unique_ptr<GnutlsCredentials>> GnutlsCredentials::Load(const TlsFiles& files) {
  std::unique_ptr<GnutlsCredentials> c(new GnutlsCredentials(files));
  absl::StatusOr<std::shared_ptr<const Generation>> g = c->Read();
  if (!g.ok()) return g.status();
  absl::MutexLock lock(&c->mu_);
  c->current_ = *std::move(g);
  c->fingerprint_ = c->Fingerprint();
  c->checked_ = absl::Now();
  return c;
}

std::string GnutlsCredentials::Fingerprint() const {
  std::string fp;
  for (const std::string* p : {&files_.cert_file, &files_.key_file, &files_.client_ca_file}) {
    struct stat st;
    if (p->empty() || ::stat(p->c_str(), &st) != 0) {
      absl::StrAppend(&fp, "-;");
      continue;
    }
    absl::StrAppend(&fp, st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                    st.st_mtim.tv_nsec, ";");
  }
  return fp;
}

absl::StatusOr<std::shared_ptr<const GnutlsCredentials::Generation>> GnutlsCredentials::Read()
    const {
  auto cert = ReadFile("tls.cert_file", files_.cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadFile("tls.key_file", files_.key_file);
  if (!key.ok()) return key.status();
  // The deleter frees everything; a generation is only dropped here, on a failed load.
  auto g = std::shared_ptr<Generation>(new Generation(), [](Generation* g) {
    for (gnutls_pcert_st& p : g->chain) gnutls_pcert_deinit(&p);
    if (g->key != nullptr) gnutls_privkey_deinit(g->key);
    if (g->trust != nullptr) gnutls_x509_trust_list_deinit(g->trust, 1);
    delete g;
  });
  unsigned n = 16;
  g->chain.resize(n);
  gnutls_datum_t cert_datum = Datum(*cert);
  int rc =
      gnutls_pcert_list_import_x509_raw(g->chain.data(), &n, &cert_datum, GNUTLS_X509_FMT_PEM, 0);
  if (rc < 0) {
    g->chain.clear();
    return GnutlsError("tls.cert_file", files_.cert_file, rc);
  }
  g->chain.resize(n);
  if ((rc = gnutls_privkey_init(&g->key)) < 0) return GnutlsError("tls.key_file", "", rc);
  gnutls_datum_t key_datum = Datum(*key);
  rc = gnutls_privkey_import_x509_raw(g->key, &key_datum, GNUTLS_X509_FMT_PEM, nullptr, 0);
  if (rc < 0) return GnutlsError("tls.key_file", files_.key_file, rc);
  // The key must belong to the leaf certificate, or every handshake would fail later.
  gnutls_pubkey_t from_key;
  gnutls_pubkey_init(&from_key);
  gnutls_pubkey_import_privkey(from_key, g->key, 0, 0);
  unsigned char a[1024], b[1024];
  size_t la = sizeof(a), lb = sizeof(b);
  bool match = gnutls_pubkey_get_key_id(from_key, 0, a, &la) >= 0 &&
               gnutls_pubkey_get_key_id(g->chain[0].pubkey, 0, b, &lb) >= 0 && la == lb &&
               std::equal(a, a + la, b);
  gnutls_pubkey_deinit(from_key);
  if (!match) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls.key_file: ", files_.key_file, " is not the key of ", files_.cert_file));
  }
  if (files_.client_auth != TlsFiles::ClientAuth::kNone) {
    auto ca = ReadFile("tls.client_ca_file", files_.client_ca_file);
    if (!ca.ok()) return ca.status();
    gnutls_x509_trust_list_init(&g->trust, 0);
    gnutls_datum_t ca_datum = Datum(*ca);
    rc = gnutls_x509_trust_list_add_trust_mem(g->trust, &ca_datum, nullptr, GNUTLS_X509_FMT_PEM, 0,
                                              0);
    if (rc <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls.client_ca_file: ", files_.client_ca_file, ": no CA certificate in it"));
    }
  }
  return std::shared_ptr<const Generation>(std::move(g));
}

std::shared_ptr<const GnutlsCredentials::Generation> GnutlsCredentials::Current() {
  absl::MutexLock lock(&mu_);
  absl::Time now = absl::Now();
  if (now - checked_ >= recheck_) {
    checked_ = now;
    std::string fp = Fingerprint();
    if (fp != fingerprint_) {
      absl::StatusOr<std::shared_ptr<const Generation>> g = Read();
      // A half-rotated pair fails to load: keep serving the old one and look again later.
      if (g.ok()) {
        retired_.push_back(std::move(current_));
        current_ = *std::move(g);
        fingerprint_ = fp;
      }
    }
  }
  return current_;
}

absl::Status GnutlsCredentials::VerifyClient(const gnutls_datum_t* chain, unsigned length) {
  std::shared_ptr<const Generation> g = Current();
  if (g->trust == nullptr) return absl::OkStatus();
  if (length == 0) return absl::UnauthenticatedError("no client certificate");
  std::vector<gnutls_x509_crt_t> crts;
  absl::Status result;
  for (unsigned i = 0; i < length && i < 16; ++i) {
    gnutls_x509_crt_t c;
    gnutls_x509_crt_init(&c);
    if (gnutls_x509_crt_import(c, &chain[i], GNUTLS_X509_FMT_DER) < 0) {
      gnutls_x509_crt_deinit(c);
      result = absl::UnauthenticatedError("unreadable client certificate");
      break;
    }
    crts.push_back(c);
  }
  if (result.ok()) {
    gnutls_typed_vdata_st purpose = {
        GNUTLS_DT_KEY_PURPOSE_OID,
        reinterpret_cast<unsigned char*>(const_cast<char*>(GNUTLS_KP_TLS_WWW_CLIENT)), 0};
    unsigned status = 0;
    int rc = gnutls_x509_trust_list_verify_crt2(g->trust, crts.data(),
                                                static_cast<unsigned>(crts.size()), &purpose, 1, 0,
                                                &status, nullptr);
    if (rc < 0 || status != 0) {
      result = absl::UnauthenticatedError("client certificate not issued by tls.client_ca_file");
    }
  }
  for (gnutls_x509_crt_t c : crts) gnutls_x509_crt_deinit(c);
  return result;
}

}  // namespace arbiter::tls
