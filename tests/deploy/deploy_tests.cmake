# Deployment artefacts, checked by the tools that read them for real (included from
# tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is tests/):
#   label alerts: promtool check rules / promtool test rules on alerts/
#   label deploy: yamllint on the deployment YAML, the image build steps (docker/build-steps.sh),
#                 and the deploy_tests GoogleTest binary (compose, Kubernetes, Dockerfile).
# A missing tool is a failing test that says which package to install, never a silent skip.

function(rs_missing_tool_test name tool package label)
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND} -E echo "${tool} not found: apt-get install ${package} (scripts/install-deps.sh), then re-run cmake")
  # The echo exits 0: fail on purpose.
  set_tests_properties(${name} PROPERTIES LABELS ${label} WILL_FAIL TRUE)
endfunction()

find_program(RS_PROMTOOL promtool)
set(RS_ALERT_RULES ${PROJECT_SOURCE_DIR}/alerts/recording_rules.yml ${PROJECT_SOURCE_DIR}/alerts/sidecar_alerts.yml)
file(GLOB RS_ALERT_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/alerts/tests/*_test.yml)
if(RS_PROMTOOL)
  add_test(NAME alerts.promtool_check_rules COMMAND ${RS_PROMTOOL} check rules ${RS_ALERT_RULES})
  add_test(NAME alerts.promtool_test_rules COMMAND ${RS_PROMTOOL} test rules ${RS_ALERT_TESTS}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/alerts/tests)
  set_tests_properties(alerts.promtool_check_rules alerts.promtool_test_rules PROPERTIES LABELS alerts)
  # promtool prints FAILED (and exits non-zero); a rule file with no test at all is also an error.
  if(NOT RS_ALERT_TESTS)
    message(SEND_ERROR "alerts/tests/ has no *_test.yml")
  endif()
else()
  rs_missing_tool_test(alerts.promtool_missing promtool prometheus alerts)
endif()

find_program(RS_YAMLLINT yamllint)
if(RS_YAMLLINT)
  add_test(NAME deploy.yamllint
    COMMAND ${RS_YAMLLINT} --strict -c ${CMAKE_CURRENT_SOURCE_DIR}/deploy/yamllint.yml
            alerts docker/compose docker/kubernetes
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(deploy.yamllint PROPERTIES LABELS deploy)
else()
  rs_missing_tool_test(deploy.yamllint_missing yamllint yamllint deploy)
endif()

# A Release build of its own (incremental after the first run), so it runs alone and may take
# minutes the first time on 2 cores.
add_test(NAME deploy.image_build_steps
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/deploy/image_build_test.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/deploy-image)
set_tests_properties(deploy.image_build_steps PROPERTIES LABELS deploy TIMEOUT 1800 RUN_SERIAL TRUE)

if(TARGET deploy_tests)
  add_dependencies(deploy_tests rollback-sidecar)
endif()
