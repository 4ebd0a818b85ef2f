/*
 * diffrun: the differential test's driver. For each snippet index of a seed
 * it generates the snippet, sends it to the native runner, runs it on the
 * other side (tachyon, or a second native runner as a control), and compares.
 * The native result is also checked against the generator's own predictions,
 * which catches generator bugs before they can pass for translator bugs.
 *
 * --selftest proves the comparison itself: it injects known differences into
 * copies of native results (a register bit, a defined flag, a data byte, a
 * wrong EIP) and requires each to be reported, injects an undefined flag and
 * requires silence, and runs mutated snippets (one ADD/OR/AND/SUB/XOR opcode
 * swapped) natively and requires at least a quarter of them to be caught.
 * --mutate runs such mutants on the second runner instead, to show that a
 * difference made there reaches the comparison.
 *
 * The seed comes from --seed, else TACHYON_DIFF_SEED, else the clock; it is
 * printed first and with every failure. See docs/internals-diff.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

#ifndef DIFF_NATIVE32
#define DIFF_NATIVE32 "diff-native32"
#endif

#ifdef DIFF_HAVE_TACHYON
#define DIFF_TACHYON_BUILT 1
#else
/* Built without the tachyon side (run_tachyon.c needs machine__run()): never called. */
#define DIFF_TACHYON_BUILT 0
struct tachyon *tachyon_start(void)
{
    return NULL;
}
void tachyon_run(struct tachyon *t, const struct snippet *s, struct diff_result *r)
{
    (void)t, (void)s, (void)r;
    abort();
}
void tachyon_stop(struct tachyon *t)
{
    (void)t;
}
#endif

struct opts {
    uint64_t seed;
    uint32_t first, count;
    struct gen_params gp;
    const char *runner;
    const char *native;
    bool selftest, list, verbose, mutate;
    unsigned max_fail;
    unsigned timeout;
};

static volatile uint64_t cur_seed;
static volatile uint32_t cur_index, cur_insns;

static void on_alarm(int sig)
{
    char msg[200];
    int n = snprintf(msg, sizeof(msg),
                     "diff: TIMEOUT in snippet %u of seed %#llx (replay: diffrun --seed %#llx "
                     "--only %u --insns %u)\n",
                     cur_index, (unsigned long long)cur_seed, (unsigned long long)cur_seed,
                     cur_index, cur_insns);
    (void)sig;
    if (write(2, msg, (size_t)n) < 0)
        _exit(3);
    _exit(3);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    errno = 0;
    uint64_t v = strtoull(s, &end, 0);

    if (errno || *end || end == s) {
        fprintf(stderr, "diff: bad %s '%s' (a number, decimal or 0x hex)\n", what, s);
        exit(2);
    }
    return v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: diffrun [--seed N] [--snippets N] [--first I] [--only I] [--insns N]\n"
            "               [--runner tachyon|native] [--native PATH] [--max-fail N]\n"
            "               [--timeout SECONDS] [--list] [--selftest] [--mutate] [-v]\n"
            "environment: TACHYON_DIFF_SEED, TACHYON_DIFF_SNIPPETS, TACHYON_DIFF_INSNS\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    const char *e;

    memset(o, 0, sizeof(*o));
    o->count = 10000;
    o->gp.ninsns = 120;
    o->native = DIFF_NATIVE32;
    o->max_fail = 1;
    o->timeout = 30;
#ifdef DIFF_HAVE_TACHYON
    o->runner = "tachyon";
#else
    o->runner = "none";
#endif
    if ((e = getenv("TACHYON_DIFF_SEED")) && *e)
        o->seed = parse_u64(e, "TACHYON_DIFF_SEED");
    else
        o->seed = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)(now() * 1e9);
    if ((e = getenv("TACHYON_DIFF_SNIPPETS")) && *e)
        o->count = (uint32_t)parse_u64(e, "TACHYON_DIFF_SNIPPETS");
    if ((e = getenv("TACHYON_DIFF_INSNS")) && *e)
        o->gp.ninsns = (unsigned)parse_u64(e, "TACHYON_DIFF_INSNS");

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool has = v != NULL;
        if (!strcmp(a, "--seed") && has)
            o->seed = parse_u64(argv[++i], "seed");
        else if (!strcmp(a, "--snippets") && has)
            o->count = (uint32_t)parse_u64(argv[++i], "snippet count");
        else if (!strcmp(a, "--first") && has)
            o->first = (uint32_t)parse_u64(argv[++i], "first index");
        else if (!strcmp(a, "--only") && has)
            o->first = (uint32_t)parse_u64(argv[++i], "index"), o->count = 1;
        else if (!strcmp(a, "--insns") && has)
            o->gp.ninsns = (unsigned)parse_u64(argv[++i], "instruction count");
        else if (!strcmp(a, "--runner") && has)
            o->runner = argv[++i];
        else if (!strcmp(a, "--native") && has)
            o->native = argv[++i];
        else if (!strcmp(a, "--max-fail") && has)
            o->max_fail = (unsigned)parse_u64(argv[++i], "failure count");
        else if (!strcmp(a, "--timeout") && has)
            o->timeout = (unsigned)parse_u64(argv[++i], "timeout");
        else if (!strcmp(a, "--list"))
            o->list = true;
        else if (!strcmp(a, "--selftest"))
            o->selftest = true;
        else if (!strcmp(a, "--mutate"))
            o->mutate = true;
        else if (!strcmp(a, "-v"))
            o->verbose = true;
        else
            usage();
    }
    if (o->gp.ninsns < 1 || o->gp.ninsns > GEN_MAX_INSNS / 2) {
        fprintf(stderr, "diff: --insns must be 1..%d\n", GEN_MAX_INSNS / 2);
        exit(2);
    }
}

static void fail_header(const struct opts *o, const struct snippet *s, const char *what)
{
    fprintf(stderr, "diff: %s in snippet %u of seed %#llx (replay: diffrun --seed %#llx --only %u"
                    " --insns %u)\n",
            what, s->index, (unsigned long long)o->seed, (unsigned long long)o->seed, s->index,
            o->gp.ninsns);
}

/* The native result must be sane before it can judge anything. */
static bool check_reference(const struct opts *o, const struct snippet *s,
                            const struct diff_result *ref)
{
    if (ref->status == RUN_OK && !diff_check_prediction(s, ref, NULL))
        return true;
    fail_header(o, s, "GENERATOR BUG");
    if (ref->status != RUN_OK)
        fprintf(stderr, "  %s\n", ref->why);
    diff_check_prediction(s, ref, stderr);
    diff_print_snippet(s, ref->status == RUN_OK ? 0 : ref->fault_eip, stderr);
    return false;
}

/* Swap one ADD/OR/AND/SUB/XOR opcode of the snippet for another; false if it has none. */
static bool mutate(struct snippet *s, struct rng *r)
{
    static const uint8_t ops[] = { 0, 1, 4, 5, 6 }; /* add or and sub xor */
    uint8_t nop;

    if (!s->nalu_sites)
        return false;
    uint32_t at = s->alu_site[rng_next(r) % s->nalu_sites];
    uint8_t old = s->code[at];
    do
        nop = ops[rng_next(r) % 5];
    while (nop == old >> 3);
    s->code[at] = (uint8_t)((old & 7) | nop << 3);
    return true;
}

static int run_compare(const struct opts *o, struct snippet *s)
{
    static struct diff_result ref, got;
    static struct snippet other; /* what the second runner runs: s, or a mutant (--mutate) */
    unsigned mutants = 0, caught = 0;
    struct rng mr;
    struct native *n = native_start(o->native), *n2 = NULL;
    struct tachyon *t = NULL;
    unsigned fails = 0, done = 0;
    uint64_t insns = 0;
    double t0 = now();

    if (!n)
        return 2;
    if (!strcmp(o->runner, "native")) {
        n2 = native_start(o->native);
        if (!n2)
            return 2;
    } else if (!strcmp(o->runner, "tachyon") && DIFF_TACHYON_BUILT) {
        t = tachyon_start();
        if (!t)
            return 2;
    } else {
        fprintf(stderr, "diff: no second runner: this build has no tachyon side "
                        "(TACHYON_DIFF_TACHYON=OFF or machine__run() missing); "
                        "use --runner native for the control run\n");
        return 2;
    }
    fprintf(stderr, "diff: seed %#llx, snippets %u..%u, ~%u instructions each, runner %s%s\n",
            (unsigned long long)o->seed, o->first, o->first + o->count - 1, o->gp.ninsns,
            o->runner, o->mutate ? " on mutants" : "");
    rng_seed(&mr, o->seed, 0x307a);

    for (uint32_t i = o->first; i < o->first + o->count; i++) {
        cur_index = i;
        gen_snippet(s, o->seed, i, &o->gp);
        insns += s->ninsns;
        done++;
        if (o->verbose)
            diff_print_snippet(s, 0, stderr);
        alarm(o->timeout);
        if (native_submit(n, s, s->code, s->code_len))
            return 2;
        const struct snippet *run2 = s;
        bool mutant = false;
        if (o->mutate) {
            memcpy(&other, s, sizeof(other));
            mutant = mutate(&other, &mr);
            run2 = &other;
        }
        if (n2) {
            if (native_submit(n2, run2, run2->code, run2->code_len) || native_collect(n2, &got))
                return 2;
        } else {
            tachyon_run(t, run2, &got);
        }
        if (native_collect(n, &ref))
            return 2;
        alarm(0);
        if (o->mutate) {
            /* Only count: a mutant's difference is the point, not a failure. */
            if (mutant && ref.status == RUN_OK && got.status == RUN_OK) {
                mutants++;
                caught += diff_compare(s, &ref, &got, NULL) != 0;
            }
            continue;
        }
        if (!check_reference(o, s, &ref)) {
            if (++fails >= o->max_fail)
                break;
            continue;
        }
        if (diff_compare(s, &ref, &got, NULL)) {
            fail_header(o, s, got.status == RUN_OK ? "MISMATCH" : "RUN FAILURE");
            diff_compare(s, &ref, &got, stderr);
            diff_print_snippet(s, got.status == RUN_OK ? 0 : got.eip, stderr);
            if (++fails >= o->max_fail)
                break;
        }
    }
    native_stop(n);
    native_stop(n2);
    if (t)
        tachyon_stop(t);
    fprintf(stderr, "diff: seed %#llx: %llu instructions in %u snippets, %u failing, %.1f s\n",
            (unsigned long long)o->seed, (unsigned long long)insns, done, fails, now() - t0);
    if (o->mutate) {
        fprintf(stderr, "diff: %u of %u mutants run by %s differ from the original natively\n",
                caught, mutants, o->runner);
        return mutants && caught * 4 >= mutants ? 0 : 1;
    }
    return fails ? 1 : 0;
}

/* --- the self-test of the comparison --- */

static int expect(const struct opts *o, const struct snippet *s, const struct diff_result *ref,
                  const struct diff_result *got, bool differ, const char *what)
{
    unsigned n = diff_compare(s, ref, got, NULL);

    if ((n != 0) == differ)
        return 0;
    fail_header(o, s, "SELFTEST FAILURE");
    fprintf(stderr, "  injected %s: compare %s\n", what,
            differ ? "did not notice" : "complained although the difference is not compared");
    diff_compare(s, ref, got, stderr);
    return 1;
}

static int selftest(const struct opts *o, struct snippet *s)
{
    static struct diff_result ref, got, mut;
    static struct snippet again, other;
    struct native *n = native_start(o->native);
    struct rng r;
    unsigned fails = 0, mutated = 0, caught = 0, faulted = 0, undef_tests = 0;

    if (!n)
        return 2;
    rng_seed(&r, o->seed, 0xd1ff);

    /* A snippet that faults must come back as a fault, and the runner must live on. */
    gen_snippet(s, o->seed, o->first, &o->gp);
    static const uint8_t bad[] = { 0xa1, 0, 0, 0, 0 }; /* mov eax, [0] */
    if (native_submit(n, s, bad, sizeof(bad)) || native_collect(n, &ref))
        return 2;
    if (ref.status != RUN_FAULT || !strstr(ref.why, "signal 11")) {
        fprintf(stderr, "diff: selftest: a faulting snippet was not reported (%s)\n",
                ref.status == RUN_OK ? "it reported success" : ref.why);
        fails++;
    }
    fprintf(stderr, "diff: selftest, seed %#llx, snippets %u..%u\n", (unsigned long long)o->seed,
            o->first, o->first + o->count - 1);
    for (uint32_t i = o->first; i < o->first + o->count && fails < 10; i++) {
        cur_index = i;
        gen_snippet(s, o->seed, i, &o->gp);
        alarm(o->timeout);
        if (native_submit(n, s, s->code, s->code_len) || native_collect(n, &ref))
            return 2;
        if (!check_reference(o, s, &ref)) {
            fails++;
            continue;
        }
        /* Same (seed, index), same snippet: replay depends on it. */
        if (i % 50 == 0) {
            gen_snippet(&again, o->seed, i, &o->gp);
            if (again.code_len != s->code_len || memcmp(again.code, s->code, s->code_len) ||
                memcmp(again.data, s->data, DIFF_DATA_SIZE) || memcmp(&again.in, &s->in,
                                                                      sizeof(s->in))) {
                fail_header(o, s, "SELFTEST FAILURE: generation is not reproducible");
                fails++;
            }
        }

        uint64_t x = rng_next(&r);
        got = ref;
        got.regs.gpr[x % 8] ^= 1u << ((x >> 8) % 32);
        fails += expect(o, s, &ref, &got, true, "a register bit");

        uint32_t defined = 0x0cd5u & ~s->undef_flags, bits[12], nb = 0;
        for (uint32_t b = 0; b < 12; b++)
            if (defined & (1u << b))
                bits[nb++] = b;
        got = ref;
        got.regs.eflags ^= 1u << bits[(x >> 16) % nb];
        fails += expect(o, s, &ref, &got, true, "a defined flag");

        if (s->undef_flags) {
            got = ref;
            got.regs.eflags ^= s->undef_flags;
            fails += expect(o, s, &ref, &got, false, "every undefined flag");
            undef_tests++;
        }
        got = ref;
        got.regs.eflags ^= 0x200; /* IF: tachyon's cli before hlt; never compared */
        fails += expect(o, s, &ref, &got, false, "IF");

        got = ref;
        got.data[(x >> 24) % DIFF_DATA_SIZE] ^= (uint8_t)(1 + (x >> 40) % 255);
        fails += expect(o, s, &ref, &got, true, "a data byte");

        got = ref;
        got.has_eip = true;
        got.eip = DIFF_CODE_BASE + s->code_len + 2;
        fails += expect(o, s, &ref, &got, false, "the EIP past the final hlt");
        got.eip = DIFF_CODE_BASE + s->code_len - 1 - (uint32_t)((x >> 48) % 4);
        fails += expect(o, s, &ref, &got, true, "an EIP inside the snippet");

        /* A mutated snippet run for real: the compare should often notice. */
        memcpy(&other, s, sizeof(other));
        if (mutate(&other, &r)) {
            if (native_submit(n, &other, other.code, other.code_len) ||
                native_collect(n, &mut))
                return 2;
            mutated++;
            if (mut.status != RUN_OK)
                faulted++;
            else if (diff_compare(s, &ref, &mut, NULL))
                caught++;
        }
        alarm(0);
    }
    native_stop(n);
    fprintf(stderr, "diff: selftest: injected differences all %s; undefined-flag masking checked "
                    "in %u snippets; %u of %u mutated snippets caught (%u faulted)\n",
            fails ? "NOT caught" : "caught", undef_tests, caught, mutated, faulted);
    /* Many mutants are invisible by nature (the value is overwritten, or in dead code). */
    if (mutated >= 20 && caught * 4 < mutated) {
        fprintf(stderr, "diff: selftest: fewer than a quarter of the mutants were caught\n");
        fails++;
    }
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    static struct snippet s;
    struct opts o;

    parse(argc, argv, &o);
    cur_seed = o.seed;
    cur_insns = o.gp.ninsns;
    signal(SIGALRM, on_alarm);
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (o.list) {
        for (uint32_t i = o.first; i < o.first + o.count; i++) {
            gen_snippet(&s, o.seed, i, &o.gp);
            diff_print_snippet(&s, 0, stdout);
        }
        return 0;
    }
    return o.selftest ? selftest(&o, &s) : run_compare(&o, &s);
}
