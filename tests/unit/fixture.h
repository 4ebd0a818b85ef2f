/*
 * The fresh-machine fixture every suite can copy: each test gets a new
 * machine (guest RAM, vCPU, bus, devices) built from default options, so no
 * test sees another's state. Use it with tcase_add_checked_fixture().
 */
#ifndef TACHYON_TEST_FIXTURE_H
#define TACHYON_TEST_FIXTURE_H

#include <check.h>

#include "monitor/machine.h"

extern struct machine *fx; /* the machine of the running test */

void fixture_machine_setup(void);    /* 32 MiB RAM, no kernel, flat 32-bit vCPU */
void fixture_machine_teardown(void);

/* Run a suite and return the process exit status (0 when every test passed). */
int fixture_run_suite(Suite *s);

#endif
