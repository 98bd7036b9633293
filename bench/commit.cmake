# SPDX-License-Identifier: MIT
# Writes OUTPUT, a header defining SIGFUSE_BENCH_COMMIT: the short commit of SOURCE_DIR,
# else $ENV{SIGFUSE_COMMIT}, else "unknown". Rewritten only when it changes, so that a
# build with nothing new recompiles nothing.
set(commit "")
if(GIT)
  execute_process(COMMAND ${GIT} rev-parse --short HEAD
    WORKING_DIRECTORY ${SOURCE_DIR}
    OUTPUT_VARIABLE commit RESULT_VARIABLE status
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT status EQUAL 0)
    set(commit "")
  endif()
endif()
if(commit STREQUAL "" AND DEFINED ENV{SIGFUSE_COMMIT})
  set(commit "$ENV{SIGFUSE_COMMIT}")
endif()
string(REGEX REPLACE "[^A-Za-z0-9._+-]" "" commit "${commit}")
if(commit STREQUAL "")
  set(commit "unknown")
endif()
set(text "#define SIGFUSE_BENCH_COMMIT \"${commit}\"\n")
set(old "")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUTPUT} "${text}")
endif()
