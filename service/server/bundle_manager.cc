#include "service/server/bundle_manager.h"

#include <pthread.h>

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace arbiter {

BundleManager::BundleManager(std::string dir) : dir_(std::move(dir)) {}

BundleManager::~BundleManager() { StopWatching(); }

std::shared_ptr<const Bundle> BundleManager::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

BundleManager::Status BundleManager::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

void BundleManager::SetObserver(Observer observer) {
  absl::MutexLock lock(&mu_);
  observer_ = std::move(observer);
}

std::string BundleManager::Fingerprint() const {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string fp;
  for (fs::recursive_directory_iterator
           it(dir_, fs::directory_options::follow_directory_symlink, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    auto mtime = it->last_write_time(ec).time_since_epoch().count();
    absl::StrAppend(&fp, it->path().generic_string(), ":", it->file_size(ec), ":", mtime, "\n");
  }
  return fp;
}

absl::Status BundleManager::LoadInitial() { return Reload(); }

std::shared_ptr<const BundleFiles> BundleManager::CurrentFiles() const {
  absl::MutexLock lock(&mu_);
  return current_files_;
}

absl::Status BundleManager::Reload() {
  absl::MutexLock reload_lock(&reload_mu_);
  std::string fingerprint = Fingerprint();
  absl::Status result;
  std::shared_ptr<const Bundle> loaded;
  std::shared_ptr<const BundleFiles> loaded_files;
  absl::StatusOr<BundleFiles> files = ReadBundleDir(dir_);
  if (!files.ok()) {
    result = files.status();
  } else {
    auto bundle = Bundle::Load(*files);
    if (bundle.ok()) {
      loaded = *std::move(bundle);
      loaded_files = std::make_shared<const BundleFiles>(*std::move(files));
    } else {
      result = bundle.status();
    }
  }
  Observer observer;
  {
    absl::MutexLock lock(&mu_);
    fingerprint_ = fingerprint;
    status_.last_attempt = absl::Now();
    if (loaded != nullptr) {
      current_ = loaded;
      current_files_ = loaded_files;
      status_.revision = loaded->revision();
      status_.loaded_at = status_.last_attempt;
      status_.last_error.clear();
      ++status_.reloads_succeeded;
    } else {
      status_.last_error = std::string(result.message());
      ++status_.reloads_failed;
    }
    observer = observer_;
  }
  if (observer)
    observer(loaded != nullptr, loaded ? loaded->revision() : std::string(result.message()));
  return result;
}

void BundleManager::StartWatching(absl::Duration interval) {
  if (watcher_.joinable()) return;
  stop_ = std::make_unique<absl::Notification>();
  watcher_ = std::thread([this, interval] {
    pthread_setname_np(pthread_self(), "arb-bundle");
    WatchLoop(interval);
  });
}

void BundleManager::StopWatching() {
  if (!watcher_.joinable()) return;
  stop_->Notify();
  watcher_.join();
}

void BundleManager::WatchLoop(absl::Duration interval) {
  while (!stop_->WaitForNotificationWithTimeout(interval)) {
    std::string fp = Fingerprint();
    bool changed;
    {
      absl::MutexLock lock(&mu_);
      changed = fp != fingerprint_;
    }
    // A failed reload records the fingerprint too, so a broken bundle is reported once, not
    // every interval; the next edit triggers another attempt.
    if (changed) (void)Reload();
  }
}

}  // namespace arbiter
