// {{name}} templating: substitution, spaces inside braces, and errors that name the problem.
#include <gtest/gtest.h>

#include "sidecar/common/template.h"

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

}  // namespace
}  // namespace rs::common
