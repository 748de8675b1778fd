// {{name}} templating: substitution, spaces inside braces, and errors that name the problem.
#include <gtest/gtest.h>

#include "common/template.h"

namespace rs::common {
namespace {

const std::map<std::string, std::string> kVars = {{"service", "checkout"}, {"canary", "v2"}};

TEST(Template, SubstitutesEveryOccurrenceAndAllowsSpaces) {
  std::string error;
  auto out = render_template("x{service=\"{{service}}\",version=\"{{ canary }}\"} / {{service}}", kVars, &error);
  ASSERT_TRUE(out) << error;
  EXPECT_EQ(*out, "x{service=\"checkout\",version=\"v2\"} / checkout");
  EXPECT_EQ(*render_template("no braces {here}", kVars, &error), "no braces {here}");
}

TEST(Template, UnknownVariablesAndUnclosedBracesAreErrors) {
  std::string error;
  EXPECT_FALSE(render_template("{{stable}}", kVars, &error));
  EXPECT_EQ(error, "unknown variable '{{stable}}' (known: canary, service)");
  EXPECT_FALSE(render_template("a {{service", kVars, &error));
  EXPECT_EQ(error, "unclosed '{{' at offset 2");
}

TEST(Template, SubstitutedValuesAreNotExpandedAgain) {
  std::string error;
  auto out = render_template("{{a}}", {{"a", "{{b}}"}, {"b", "no"}}, &error);
  ASSERT_TRUE(out) << error;
  EXPECT_EQ(*out, "{{b}}");
}

struct TemplateCase {
  std::string name;
  std::string text;
  std::optional<std::string> expected;  // nullopt: an error
  std::string error;                    // the error when expected is nullopt
};

class TemplateTable : public ::testing::TestWithParam<TemplateCase> {};

TEST_P(TemplateTable, RendersOrExplains) {
  const TemplateCase& c = GetParam();
  std::string error;
  auto out = render_template(c.text, kVars, &error);
  if (c.expected) {
    ASSERT_TRUE(out) << error;
    EXPECT_EQ(*out, *c.expected);
  } else {
    EXPECT_FALSE(out) << *out;
    EXPECT_EQ(error, c.error);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TemplateTable,
    ::testing::Values(
        TemplateCase{"Empty", "", std::string(""), ""},
        TemplateCase{"OnlyAVariable", "{{canary}}", std::string("v2"), ""},
        TemplateCase{"TabsAndSpaces", "{{\t service  }}", std::string("checkout"), ""},
        TemplateCase{"AdjacentVariables", "{{service}}{{canary}}", std::string("checkoutv2"), ""},
        TemplateCase{"StrayClosingBraces", "a}}b", std::string("a}}b"), ""},
        TemplateCase{"PromQLBracesUntouched", "rate(x{job=\"a\"}[5m])", std::string("rate(x{job=\"a\"}[5m])"), ""},
        TemplateCase{"EmptyName", "x{{ }}", std::nullopt, "unknown variable '{{}}' (known: canary, service)"},
        TemplateCase{"NamesAreCaseSensitive", "{{Service}}", std::nullopt,
                     "unknown variable '{{Service}}' (known: canary, service)"},
        TemplateCase{"SpacesAreTrimmedInTheError", "{{ stable }}", std::nullopt,
                     "unknown variable '{{stable}}' (known: canary, service)"},
        TemplateCase{"UnclosedAfterAGoodOne", "{{service}} {{canary", std::nullopt, "unclosed '{{' at offset 12"},
        TemplateCase{"SingleClosingBrace", "{{service}", std::nullopt, "unclosed '{{' at offset 0"}),
    [](const ::testing::TestParamInfo<TemplateCase>& row) { return row.param.name; });

TEST(Template, AnErrorWithNoVariablesSaysNoneAreKnown) {
  std::string error;
  EXPECT_FALSE(render_template("{{service}}", {}, &error));
  EXPECT_NE(error.find("unknown variable '{{service}}'"), std::string::npos) << error;
}

TEST(Template, ANullErrorPointerIsAllowed) {
  EXPECT_FALSE(render_template("{{nope}}", kVars, nullptr));
  EXPECT_FALSE(render_template("{{", kVars, nullptr));
}

}  // namespace
}  // namespace rs::common
