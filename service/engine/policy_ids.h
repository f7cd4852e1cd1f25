// The policy ids a decision names (Decision::evaluated_policies, overridden_policies), without a
// copy of each id per decision: ids such as "global.pii-masking" are past the strings' inline
// size, so copying them cost a malloc, a copy and a free per id and decision.
#ifndef ARBITER_SERVICE_ENGINE_POLICY_IDS_H_
#define ARBITER_SERVICE_ENGINE_POLICY_IDS_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"

namespace arbiter {

// A list of ids read from an immutable table of ids that the list shares: a bundle's table of
// its policies' ids (one per bundle, built at load), or a table of the list's own (built from
// strings: tests, decisions read back from protos). The list holds the table, so its ids stay
// valid however long the list lives (past a bundle reload too) and wherever it is copied; the
// table is never changed after it is built, so lists may be read from any thread.
class PolicyIdList {
 public:
  using Table = std::vector<std::string>;

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string*;
    using reference = const std::string&;

    const_iterator() = default;
    reference operator*() const { return (*table_)[*at_]; }
    pointer operator->() const { return &(*table_)[*at_]; }
    const_iterator& operator++() {
      ++at_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++at_;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.at_ == b.at_;
    }

   private:
    friend class PolicyIdList;
    const_iterator(const Table* table, const uint32_t* at) : table_(table), at_(at) {}
    const Table* table_ = nullptr;
    const uint32_t* at_ = nullptr;
  };
  using iterator = const_iterator;
  using value_type = std::string;
  using size_type = size_t;

  PolicyIdList() = default;
  // A list of these ids, in a table of its own.
  PolicyIdList(std::initializer_list<std::string> ids) : PolicyIdList(Table(ids)) {}
  explicit PolicyIdList(Table ids);
  // An empty list over `table` (not null), which Add indexes.
  explicit PolicyIdList(std::shared_ptr<const Table> table) : table_(std::move(table)) {}

  // Empties the list, which then names ids of `table` (not null): assigning PolicyIdList(table)
  // instead would move another list's inline storage for nothing.
  void Reset(std::shared_ptr<const Table> table) {
    table_ = std::move(table);
    at_.clear();
  }
  // Appends (*table)[index]; only on a list built over a table, index < table->size().
  void Add(size_t index) { at_.push_back(static_cast<uint32_t>(index)); }
  void reserve(size_t n) { at_.reserve(n); }

  size_t size() const { return at_.size(); }
  bool empty() const { return at_.empty(); }
  const std::string& operator[](size_t i) const { return (*table_)[at_[i]]; }
  const_iterator begin() const { return const_iterator(table_.get(), at_.data()); }
  const_iterator end() const { return const_iterator(table_.get(), at_.data() + at_.size()); }

  // Whether `other` names the same entries of the same table: a test of a few instructions that
  // implies == (lists of the same ids in two tables are == but not this).
  bool SameEntries(const PolicyIdList& other) const {
    return table_ == other.table_ && at_ == other.at_;
  }

  // The same ids in the same order (whatever tables hold them).
  friend bool operator==(const PolicyIdList& a, const PolicyIdList& b);
  friend bool operator==(const PolicyIdList& a, const std::vector<std::string>& b);

 private:
  std::shared_ptr<const Table> table_;
  // Indices into *table_: a decision names a few policies, so most lists need no allocation.
  absl::InlinedVector<uint32_t, 8> at_;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_POLICY_IDS_H_
