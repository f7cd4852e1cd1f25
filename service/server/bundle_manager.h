// Keeps the active bundle snapshot of a directory: loads it, reloads it on demand or when the
// directory changes (polling a fingerprint of every file's path, size and mtime), and swaps the
// snapshot atomically. A bundle that fails to load never replaces the active one; the error is
// kept for GetStatus and reported to the observer.
//
// Thread-safe. Readers take the snapshot once per decision (Current()) and evaluate entirely on
// it, so a decision never mixes two revisions.
#ifndef ARBITER_SERVICE_SERVER_BUNDLE_MANAGER_H_
#define ARBITER_SERVICE_SERVER_BUNDLE_MANAGER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "service/engine/bundle.h"

namespace arbiter {

class BundleManager {
 public:
  struct Status {
    std::string revision;
    absl::Time loaded_at;
    std::string last_error;  // of the last attempt; empty when it succeeded
    absl::Time last_attempt;
    int64_t reloads_succeeded = 0;
    int64_t reloads_failed = 0;
  };
  // Called after every load attempt (from the thread that made it).
  using Observer = std::function<void(bool ok, const std::string& revision_or_error)>;

  explicit BundleManager(std::string dir);
  ~BundleManager();  // stops the watcher

  // Loads the bundle for the first time. The error lists every problem; the caller should refuse
  // to serve.
  absl::Status LoadInitial();

  // The active snapshot (never null after a successful LoadInitial).
  std::shared_ptr<const Bundle> Current() const;

  // The files the active snapshot was built from (to compare a domain's candidate against).
  std::shared_ptr<const BundleFiles> CurrentFiles() const;

  // Loads the directory again now. On failure the old snapshot stays and the status says why.
  // Returns the load status (OK when the new bundle is active).
  absl::Status Reload();

  // Starts polling the directory every `interval`; a change triggers Reload().
  void StartWatching(absl::Duration interval);
  void StopWatching();

  void SetObserver(Observer observer);
  Status status() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string Fingerprint() const;
  void WatchLoop(absl::Duration interval);

  const std::string dir_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Bundle> current_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const BundleFiles> current_files_ ABSL_GUARDED_BY(mu_);
  Status status_ ABSL_GUARDED_BY(mu_);
  Observer observer_ ABSL_GUARDED_BY(mu_);
  std::string fingerprint_ ABSL_GUARDED_BY(mu_);
  absl::Mutex reload_mu_;  // one load at a time
  std::unique_ptr<absl::Notification> stop_;
  std::thread watcher_;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_SERVER_BUNDLE_MANAGER_H_
