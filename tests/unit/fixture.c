/*
 * Shared fixture and runner for the Check suites.
 */
#include "fixture.h"

#include <stdlib.h>
#include <string.h>

struct machine *fx;

void fixture_machine_setup(void)
{
    struct options opt;

    memset(&opt, 0, sizeof(opt));
    opt.ram_mb = 32;
    opt.machine = "pc";
    fx = machine__create(&opt);
    ck_assert_ptr_nonnull(fx);
    vcpu_load_flat32(fx->cpu);
}

void fixture_machine_teardown(void)
{
    machine__destroy(fx);
    fx = NULL;
}

int fixture_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    /* Fork mode isolates tests; under the pre-VT emulator forking is slow but fine. */
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
