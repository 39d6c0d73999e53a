# Fuzz.cmake - compiler and linker flags of a libFuzzer build (BENCHFS_FUZZ=ON).
#
# Every library linked into a fuzz target must be compiled with coverage
# instrumentation (-fsanitize=fuzzer-no-link) and the sanitizers, or libFuzzer
# explores blind. The flags are directory-scoped: included from the top-level
# CMakeLists.txt before the add_subdirectory() loop they apply to the whole
# tree. Directories that need them (src/common, tests/unit, tests/fuzz) also
# include this file themselves so that the fuzz build works either way; a
# second inclusion in a directory that already inherited the flags only
# repeats them, which the compiler accepts. Only the fuzz executables link
# libFuzzer itself (-fsanitize=fuzzer, in tests/fuzz/CMakeLists.txt); every
# other executable links the sanitizer runtimes only.
include_guard(DIRECTORY)

if(BENCHFS_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "BENCHFS_FUZZ=ON needs clang (configure with CC=clang)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
