# Build-time guard (run by CMakeLists.txt with cmake -P): the front ends in
# cli/ are applications of the public API, so they may include libc and
# system headers, <uv.h>, "shoal.h" and cli/'s own headers, never a library
# header from src/. The include path already leaves src/ out; this catches
# what a path cannot: an include that climbs out ("../src/base/log.h") or
# names a file by absolute path, and it names the file and line.
#   FILES: the sources to check, separated by '|'; STAMP: touched when all
#   pass.
get_filename_component(root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
string(REPLACE "|" ";" FILES "${FILES}")
set(bad "")
foreach(f ${FILES})
  file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line ${lines})
    if(NOT line MATCHES "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
      # a computed include (#include MACRO) cannot be checked: refuse it
      list(APPEND bad "${f}: ${line}")
      continue()
    endif()
    set(h "${CMAKE_MATCH_1}")
    if(h MATCHES "(^|/)\\.\\.(/|$)" OR IS_ABSOLUTE "${h}")
      list(APPEND bad "${f}: ${line} (outside cli/ and include/)")
    elseif(EXISTS "${root}/src/${h}" AND NOT EXISTS "${root}/cli/${h}"
           AND NOT EXISTS "${root}/include/${h}")
      list(APPEND bad "${f}: ${line} (a library-internal header)")
    endif()
  endforeach()
endforeach()
if(bad)
  list(JOIN bad "\n  " msg)
  message(FATAL_ERROR "cli/ must use only include/shoal.h, not src/ headers:\n  ${msg}")
endif()
file(TOUCH "${STAMP}")
