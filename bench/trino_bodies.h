// The request bodies of Trino's OPA access control that the Trino benchmarks send: trino_load
// over HTTP (bench/trino_bench.sh) and engine_bench's BM_Trino* (the same checks through the
// engine alone), so that both measure the same batches. The identity is user "ana" in group
// "analysts", which the benchmarks' server config maps to the role sales-analysts.
#ifndef ARBITER_BENCH_TRINO_BODIES_H_
#define ARBITER_BENCH_TRINO_BODIES_H_

#include <string>

namespace arbiter::bench {

inline std::string Identity() {
  return R"({"input":{"context":{"identity":{"user":"ana","groups":["analysts"]},)"
         R"("softwareStack":{"trinoVersion":"455"}},"action":)";
}

inline std::string Table(const std::string& c, const std::string& s, const std::string& t) {
  return R"({"table":{"catalogName":")" + c + R"(","schemaName":")" + s + R"(","tableName":")" + t +
         R"("}})";
}

inline std::string FilterTablesBody(int tables) {
  const char* known[][3] = {{"customer_analytics", "customer_360", "customers"},
                            {"customer_analytics", "customer_360", "customer_segments"},
                            {"sales_analytics", "customer_transactions", "transactions"},
                            {"finance", "financial_statements", "income_statement"},
                            {"supplychain", "inventory_levels", "stock_levels"}};
  std::string body = Identity() + R"({"operation":"FilterTables","filterResources":[)";
  for (int i = 0; i < tables; ++i) {
    if (i > 0) body += ",";
    if (i % 3 == 0) {
      const auto& k = known[(i / 3) % 5];
      body += Table(k[0], k[1], k[2]);
    } else if (i % 3 == 1) {
      body += Table("customer_analytics", "customer_360", "scratch_" + std::to_string(i));
    } else {
      body += Table("hive", "default", "orders_" + std::to_string(i));
    }
  }
  return body + "]}}}";
}

inline std::string FilterColumnsBody(int columns) {
  std::string body = Identity() +
                     R"({"operation":"FilterColumns","filterResources":[{"table":{)"
                     R"("catalogName":"customer_analytics","schemaName":"customer_360",)"
                     R"("tableName":"customers","columns":[)";
  const char* known[] = {"customer_id", "email", "segment", "region"};
  for (int i = 0; i < columns; ++i) {
    if (i > 0) body += ",";
    body += "\"";
    body += i < 4 ? std::string(known[i]) : "column_" + std::to_string(i);
    body += "\"";
  }
  return body + "]}}]}}}";
}

inline std::string SelectBody() {
  return Identity() +
         R"({"operation":"SelectFromColumns","resource":{"table":{"catalogName":"customer_analytics",)"
         R"("schemaName":"customer_360","tableName":"customers",)"
         R"("columns":["customer_id","email","segment","region"]}}}}})";
}

}  // namespace arbiter::bench

#endif  // ARBITER_BENCH_TRINO_BODIES_H_
