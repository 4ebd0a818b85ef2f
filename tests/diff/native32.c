/*
 * The native side of the differential test: a 32-bit static program
 * (gcc -m32 -static) that runs snippets on the real CPU. It maps the code
 * area at DIFF_CODE_BASE and the data area at DIFF_DATA_BASE once, then
 * serves requests from stdin until EOF (protocol in proto.h): copy the code
 * and append a `jmp rel32` to diff_epilogue, copy the data, run, answer with
 * the final registers and data. One process serves all snippets.
 *
 * run_snippet() is the trampoline: it saves the C callee-saved registers,
 * loads EFLAGS with popfd on the C stack, then all eight GPRs (ESP last) and
 * jumps into the code. The epilogue stores the eight GPRs with plain moves
 * before touching any stack, because the guest's ESP points into the data
 * area and a push there would show up as a data difference. A snippet that
 * faults (a generator bug) is caught on the alternate signal stack and
 * reported with its signal; the runner carries on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "proto.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

struct diff_regs g_in, g_out;      /* read and written by the assembly below */
uint32_t g_host_esp;
uint32_t g_code_entry = DIFF_CODE_BASE;

void run_snippet(void);
void diff_epilogue(void);

/* Offsets in struct diff_regs: gpr[i] at 4*i, eflags at 32. */
__asm__(
    ".text\n"
    ".globl run_snippet\n"
    "run_snippet:\n"
    "    push %ebp\n"
    "    push %ebx\n"
    "    push %esi\n"
    "    push %edi\n"
    "    mov %esp, g_host_esp\n"
    "    pushl g_in+32\n"
    "    popfl\n"
    "    mov g_in+0, %eax\n"
    "    mov g_in+4, %ecx\n"
    "    mov g_in+8, %edx\n"
    "    mov g_in+12, %ebx\n"
    "    mov g_in+20, %ebp\n"
    "    mov g_in+24, %esi\n"
    "    mov g_in+28, %edi\n"
    "    mov g_in+16, %esp\n"
    "    jmp *g_code_entry\n"
    ".globl diff_epilogue\n"
    "diff_epilogue:\n"
    "    mov %eax, g_out+0\n"
    "    mov %ecx, g_out+4\n"
    "    mov %edx, g_out+8\n"
    "    mov %ebx, g_out+12\n"
    "    mov %esp, g_out+16\n"
    "    mov %ebp, g_out+20\n"
    "    mov %esi, g_out+24\n"
    "    mov %edi, g_out+28\n"
    "    mov g_host_esp, %esp\n"
    "    pushfl\n"
    "    popl g_out+32\n"
    "    cld\n"
    "    pop %edi\n"
    "    pop %esi\n"
    "    pop %ebx\n"
    "    pop %ebp\n"
    "    ret\n");

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_sig;
static volatile uint32_t fault_eip, fault_addr;

static void on_fault(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;

    fault_sig = sig;
    fault_eip = uc->uc_mcontext.gregs[REG_EIP];
    fault_addr = (uint32_t)(uintptr_t)si->si_addr;
    siglongjmp(fault_jmp, 1);
}

static int read_full(void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = read(0, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= n;
    }
    return 0;
}

static int write_full(const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = write(1, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= n;
    }
    return 0;
}

static void *map_fixed(uint32_t addr, uint32_t size, int prot)
{
    void *p = mmap((void *)(uintptr_t)addr, size, prot,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

    if (p == MAP_FAILED || p != (void *)(uintptr_t)addr) {
        fprintf(stderr, "diff-native32: cannot map %#x+%#x: %s\n", addr, size, strerror(errno));
        exit(2);
    }
    return p;
}

int main(void)
{
    static uint8_t altstack[65536];
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP };
    uint8_t *code = map_fixed(DIFF_CODE_BASE, DIFF_CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);
    uint8_t *data = map_fixed(DIFF_DATA_BASE, DIFF_DATA_SIZE, PROT_READ | PROT_WRITE);
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
    struct sigaction sa;

    /* The guest's ESP is in the data area: a signal frame must never land there. */
    if (sigaltstack(&ss, NULL)) {
        perror("diff-native32: sigaltstack");
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);

    for (;;) {
        struct diff_req req;
        struct diff_rep rep;

        if (read_full(&req, sizeof(req)))
            return 0; /* the driver closed the pipe */
        if (req.magic == DIFF_MAGIC_QUIT)
            return 0;
        if (req.magic != DIFF_MAGIC_REQ || req.code_len > DIFF_MAX_CODE) {
            fprintf(stderr, "diff-native32: bad request (magic %#x, len %u)\n", req.magic,
                    req.code_len);
            return 2;
        }
        if (read_full(code, req.code_len) || read_full(data, DIFF_DATA_SIZE))
            return 2;

        uint32_t tail = DIFF_CODE_BASE + req.code_len;
        int32_t rel = (int32_t)((uint32_t)(uintptr_t)diff_epilogue - (tail + 5));
        code[req.code_len] = 0xe9;
        memcpy(code + req.code_len + 1, &rel, 4);

        memset(&rep, 0, sizeof(rep));
        g_in = req.in;
        fault_sig = 0;
        if (sigsetjmp(fault_jmp, 1) == 0) {
            run_snippet();
            rep.out = g_out;
        } else {
            rep.signo = fault_sig;
            rep.fault_eip = fault_eip;
            rep.fault_addr = fault_addr;
        }
        rep.magic = DIFF_MAGIC_REP;
        if (write_full(&rep, sizeof(rep)) || write_full(data, DIFF_DATA_SIZE))
            return 2;
    }
}
