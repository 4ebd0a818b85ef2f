/*
 * SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGTRAP while the vCPU thread is in the
 * translation cache. A signal that does not come from translated guest code
 * is a monitor bug: the default action is restored and the fault repeats, so
 * it crashes loudly with a core instead of being misread as a guest fault.
 */
#define _GNU_SOURCE
#include "monitor/signals.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <ucontext.h>

#include "bt/bt.h"
#include "monitor/machine.h"
#include "monitor/stats.h"

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

static __thread struct machine *current;
static __thread void *altstack;

static const int greg_of_host[8] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX,
                                    REG_RSP, REG_RBP, REG_RSI, REG_RDI};

static void on_signal(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    greg_t *g = uc->uc_mcontext.gregs;
    struct machine *m = current;
    uint64_t pc = (uint64_t)g[REG_RIP];
    uint32_t eip;
    int fixup;

    if (!m || !m->bt || !bt__pc_in_tc(m, pc) || !bt__pc_to_guest(m, pc, &eip, &fixup)) {
        signal(sig, SIG_DFL);
        return;
    }
    if (fixup >= 0 && fixup < 8)
        g[greg_of_host[fixup]] = g[REG_R9];
    else if (fixup == -2) {
        /* inline string instruction: RSI and RDI were rebased */
        g[REG_RDI] -= (greg_t)m->cpu->window;
        g[REG_RSI] -= (greg_t)m->cpu->window;
    }
    else if (fixup == -3)
        g[REG_EFL] = *(greg_t *)g[REG_RSP]; /* inline PUSHF: the guest's flags are on the stack */
    m->cpu->eip = eip;
    m->cpu->exit_reason = EXIT_FAULT;
    m->cpu->exit_pc = 0;
    m->cpu->fault_signo = sig;
    m->cpu->fault_code = si->si_code;
    m->cpu->fault_host_addr = (uint64_t)si->si_addr;
    m->cpu->fault_pc = pc;
    /* (SIGBUS too: a write to a page write-protected through userfaultfd) */
    m->cpu->fault_is_write = (sig == SIGSEGV || sig == SIGBUS) && (g[REG_ERR] & 2) != 0;
    g[REG_RIP] = (greg_t)bt__exit_stub(m);
}

int signals__init(struct machine *m)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    struct sigaction sa;
    stack_t ss;
    size_t size = getauxval(AT_MINSIGSTKSZ);

    if (size < (size_t)MINSIGSTKSZ)
        size = MINSIGSTKSZ;
    size = size * 4 + 65536;
    if (!altstack) {
        altstack = malloc(size);
        if (!altstack)
            return -1;
        ss.ss_sp = altstack;
        ss.ss_size = size;
        ss.ss_flags = 0;
        if (sigaltstack(&ss, NULL) < 0)
            return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (sigaction(sigs[i], &sa, NULL) < 0)
            return -1;
    current = m;
    return 0;
}

void signals__fini(struct machine *m)
{
    if (current == m)
        current = NULL;
}
