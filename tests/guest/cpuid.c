/*
 * cpuid: what the guest tests rely on from CPUID, and its consistency. The ID
 * flag (EFLAGS bit 21) must toggle (CPUID exists); leaf 0 gives a maximum
 * leaf of at least 1 and a printable, non-blank 12-character vendor; leaf 1
 * reports family 6 (a P6) and the features the other guest tests use (FPU,
 * TSC, CX8, CMOV, MMX, FXSR, SSE, SSE2); answers do not change between calls
 * or with junk in ECX for leaves without sub-leaves; the extended range, when
 * present, has a printable brand string. Values are printed for the log.
 */
#include "kit.h"

struct regs {
    uint32_t a, b, c, d;
};

static struct regs cpuid(uint32_t leaf, uint32_t sub)
{
    struct regs r;
    __asm__ volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(sub));
    return r;
}

static int printable(const char *s, int n)
{
    int blank = 1;
    for (int i = 0; i < n; i++) {
        if (s[i] == 0 && i > 0)
            break; /* brand strings are NUL-terminated */
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
        if (s[i] != ' ')
            blank = 0;
    }
    return !blank;
}

void test_main(void)
{
    /* The ID flag toggles. */
    uint32_t before = t_read_eflags(), after;
    __asm__ volatile("pushl %1\n\tpopfl\n\tpushfl\n\tpopl %0\n\tpushl %2\n\tpopfl"
                     : "=r"(after)
                     : "r"(before ^ 0x200000), "r"(before)
                     : "cc");
    t_assert_eq("EFLAGS.ID toggles", (after ^ before) & 0x200000, 0x200000);

    struct regs l0 = cpuid(0, 0);
    char vendor[13];
    memcpy(vendor, &l0.b, 4);
    memcpy(vendor + 4, &l0.d, 4);
    memcpy(vendor + 8, &l0.c, 4);
    vendor[12] = 0;
    t_printf("max leaf %u, vendor \"%s\"\n", l0.a, vendor);
    t_assert_eq("max leaf >= 1", l0.a >= 1, 1);
    t_assert_eq("vendor printable and not blank", printable(vendor, 12), 1);

    struct regs l1 = cpuid(1, 0);
    uint32_t family = (l1.a >> 8) & 0xf, model = (l1.a >> 4) & 0xf, stepping = l1.a & 0xf;
    if (family == 0xf)
        family += (l1.a >> 20) & 0xff;
    t_printf("family %u model %u stepping %u, features edx 0x%08x ecx 0x%08x\n", family, model,
             stepping, l1.d, l1.c);
    t_assert_eq("family 6", family, 6);
    static const struct {
        const char *name;
        int bit;
    } need[] = {{"FPU", 0},  {"TSC", 4},   {"CX8", 8},  {"CMOV", 15},
                {"MMX", 23}, {"FXSR", 24}, {"SSE", 25}, {"SSE2", 26}};
    for (unsigned i = 0; i < T_ARRAY_SIZE(need); i++)
        t_assert_eq(need[i].name, (l1.d >> need[i].bit) & 1, 1);

    /* Same answers again, and with junk in ECX. */
    struct regs again = cpuid(0, 0x12345678);
    t_assert_mem("leaf 0 repeatable", &again, &l0, sizeof(l0));
    again = cpuid(1, 0xffffffff);
    /* EBX bits 31..24 hold the initial APIC ID, the same on one CPU. */
    t_assert_mem("leaf 1 repeatable", &again, &l1, sizeof(l1));

    struct regs ext = cpuid(0x80000000, 0);
    t_printf("max extended leaf 0x%08x\n", ext.a);
    if (ext.a >= 0x80000004 && ext.a < 0x8000ffff) {
        char brand[49];
        for (uint32_t i = 0; i < 3; i++) {
            struct regs r = cpuid(0x80000002 + i, 0);
            memcpy(brand + 16 * i, &r, 16);
        }
        brand[48] = 0;
        const char *p = brand;
        while (*p == ' ')
            p++;
        t_printf("brand \"%s\"\n", p);
        t_assert_eq("brand string printable", printable(brand, 48), 1);
    }
}
