# The pre-VT check: tachyon must run on pre-VT Opterons (K8), so every unit
# test executable, and tachyon itself on the hello guest, also runs under
# qemu-x86_64 -cpu Opteron_G1,-sse3. That CPU model has SSE2 but no SSE3,
# SSSE3, SSE4, POPCNT, CMPXCHG16B, RDTSCP, MOVBE or FSGSBASE, so an
# instruction beyond the x86-64 baseline (from our code, a library, or a
# compiler flag) raises SIGILL and fails the test (ctest label "prevt").
# Check's fork mode works under qemu-user (forks, signals, timeouts), so the
# suites run as they do natively. See docs/internals-tests.md.
#
# Included from tests/CMakeLists.txt after the unit and guest folders, which
# set TACHYON_UNIT_TESTS, TACHYON_GUEST_TESTS and TACHYON_GUEST_RUNNER.

find_program(QEMU_X86_64 qemu-x86_64)
if(NOT QEMU_X86_64)
    message(WARNING "qemu-x86_64 not found (install qemu-user): the pre-VT check is skipped")
    return()
endif()
set(PREVT_CPU Opteron_G1,-sse3)

foreach(name ${TACHYON_UNIT_TESTS})
    add_test(NAME prevt/${name} COMMAND ${QEMU_X86_64} -cpu ${PREVT_CPU} $<TARGET_FILE:${name}>)
    set_tests_properties(prevt/${name} PROPERTIES LABELS prevt TIMEOUT 600
        ENVIRONMENT "CK_VERBOSITY=normal")
endforeach()

if(hello IN_LIST TACHYON_GUEST_TESTS)
    add_test(NAME prevt/tachyon-hello
        COMMAND sh ${TACHYON_GUEST_RUNNER} 60 ${CMAKE_CURRENT_BINARY_DIR}/guest/hello.elf
                ${QEMU_X86_64} -cpu ${PREVT_CPU} ${PROJECT_BINARY_DIR}/tachyon)
    set_tests_properties(prevt/tachyon-hello PROPERTIES LABELS prevt TIMEOUT 90)
endif()
