#include "service/descriptor/descriptor.h"

#include <string>

#include "gtest/gtest.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

Value Doc(const std::string& yaml) {
  absl::StatusOr<Value> v = ParseYaml(yaml, "doc.yaml");
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : Value();
}

struct Case {
  const char* shape;
  const char* yaml;
  const char* name;
  const char* version;
  const char* domain;
};

TEST(DescriptorTest, EveryShapeByTheOneRule) {
  const Case cases[] = {
      {"data product descriptor",
       "apiVersion: datamesh/v1\nkind: DataProduct\nmetadata:\n  name: customer-360\n"
       "  domain: sales\n  version: 2.1.0\n",
       "customer-360", "2.1.0", "sales"},
      {"the seed's contract",
       "kind: DataContract\nmetadata:\n  name: orders-contract\n  version: 1.2.0\n"
       "producer:\n  domain: sales\n",
       "orders-contract", "1.2.0", ""},
      {"ODCS v3",
       "apiVersion: v3.0.0\nkind: DataContract\nid: 53581432-6c55-4ba2\nname: orders\n"
       "version: 1.0.0\ndomain: sales\n",
       "orders", "1.0.0", "sales"},
      {"ODCS v3 without a name", "apiVersion: v3.0.0\nid: orders-odcs\nversion: 3.0.1\n",
       "orders-odcs", "3.0.1", ""},
      {"datacontract.com",
       "dataContractSpecification: 1.1.0\nid: parcel-events\ninfo:\n  title: Parcel events\n"
       "  version: 1.0.0\n",
       "parcel-events", "1.0.0", ""},
      {"metadata wins over the top level",
       "metadata:\n  name: a\n  version: 1.0.0\n  domain: x\nname: b\nversion: 2.0.0\n"
       "domain: y\nid: c\n",
       "a", "1.0.0", "x"},
      {"a null key is absent", "metadata:\n  name: ~\nname: b\n", "b", "", ""},
      {"scalars as text", "metadata:\n  name: 42\n  version: 1.10\n  domain: true\n", "42", "1.1",
       "true"},
      {"a map is unreadable, not absent", "metadata:\n  name: {first: a}\nid: c\n", "", "", ""},
      {"metadata that is not a map", "metadata: [a, b]\nid: c\n", "c", "", ""},
      {"nothing", "spec: {}\n", "", "", ""},
      {"not a map", "- a\n- b\n", "", "", ""},
  };
  for (const Case& c : cases) {
    Value doc = Doc(c.yaml);
    EXPECT_EQ(DescriptorName(doc), c.name) << c.shape;
    EXPECT_EQ(DescriptorVersion(doc), c.version) << c.shape;
    EXPECT_EQ(DescriptorDomain(doc), c.domain) << c.shape;
  }
}

TEST(DescriptorTest, FieldNamesItsKeyAndNode) {
  Value doc = Doc("id: parcel-events\ninfo:\n  title: t\n  version: 1.0.0\n");
  DescriptorField v = FindDescriptorField(doc, DescriptorFact::kVersion);
  ASSERT_NE(v.value, nullptr);
  EXPECT_EQ(v.key, "info.version");
  EXPECT_EQ(v.value->line(), 4);  // the parser's position: messages point at it
  EXPECT_EQ(v.text, "1.0.0");
  DescriptorField n = FindDescriptorField(doc, DescriptorFact::kName);
  EXPECT_EQ(n.key, "id");
  DescriptorField d = FindDescriptorField(doc, DescriptorFact::kDomain);
  EXPECT_EQ(d.value, nullptr);
  EXPECT_EQ(d.key, "");

  Value odd = Doc("metadata:\n  name: [a]\n");
  DescriptorField m = FindDescriptorField(odd, DescriptorFact::kName);
  ASSERT_NE(m.value, nullptr);
  EXPECT_TRUE(m.value->is_list());
  EXPECT_EQ(m.key, "metadata.name");
  EXPECT_EQ(m.text, "");
}

TEST(DescriptorTest, KeysForMessages) {
  EXPECT_EQ(DescriptorKeys(DescriptorFact::kName), "metadata.name, name or id");
  EXPECT_EQ(DescriptorKeys(DescriptorFact::kVersion), "metadata.version, version or info.version");
  EXPECT_EQ(DescriptorKeys(DescriptorFact::kDomain), "metadata.domain or domain");
  for (size_t i = 0; i < kDescriptorFactRules.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(kDescriptorFactRules[i].fact), i);
  }
}

}  // namespace
}  // namespace arbiter
