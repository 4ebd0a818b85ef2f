/*
 * Printers for the counters in stats.inc, plus the per-cause and
 * per-mnemonic arrays, as text (-d stats) and JSON (--stats-json).
 */
#include "monitor/stats.h"

#include <Zydis/Zydis.h>

#include "monitor/cpu.h"

struct stats stats;

static const struct {
    const char *name, *desc;
    size_t off;
} stat_list[] = {
#define STAT(n, d) {#n, d, __builtin_offsetof(struct stats, n)},
#include "monitor/stats.inc"
#undef STAT
};

#define NSTATS (sizeof(stat_list) / sizeof(stat_list[0]))

static uint64_t stat_value(size_t i)
{
    return *(const uint64_t *)((const char *)&stats + stat_list[i].off);
}

/* The gauges that are read rather than counted. */
static void snapshot(void)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    uint64_t n = 0;
    int ch;

    if (!maps)
        return;
    while ((ch = getc(maps)) != EOF)
        n += ch == '\n';
    fclose(maps);
    stats.mmu_host_vmas = n;
}

void stats_print_text(FILE *f)
{
    snapshot();
    fprintf(f, "== tachyon statistics ==\n");
    for (size_t i = 0; i < NSTATS; i++)
        fprintf(f, "%-24s %14llu  %s\n", stat_list[i].name, (unsigned long long)stat_value(i),
                stat_list[i].desc);
    fprintf(f, "-- exits by cause --\n");
    for (int i = 0; i < STATS_MAX_EXIT; i++)
        if (stats.exits_by_cause[i])
            fprintf(f, "%-24s %14llu\n", exit_reason_name(i),
                    (unsigned long long)stats.exits_by_cause[i]);
    fprintf(f, "-- callouts by instruction --\n");
    for (int i = 0; i < STATS_MAX_CALLOUT; i++)
        if (stats.callouts_by_mnemonic[i])
            fprintf(f, "%-24s %14llu\n", ZydisMnemonicGetString((ZydisMnemonic)i),
                    (unsigned long long)stats.callouts_by_mnemonic[i]);
    fprintf(f, "-- external interrupts by vector --\n");
    for (int i = 0; i < 256; i++)
        if (stats.interrupts_by_vector[i])
            fprintf(f, "vector %-17d %14llu\n", i, (unsigned long long)stats.interrupts_by_vector[i]);
    fprintf(f, "-- guest exceptions by vector --\n");
    for (int i = 0; i < 32; i++)
        if (stats.exceptions_by_vector[i])
            fprintf(f, "vector %-17d %14llu\n", i, (unsigned long long)stats.exceptions_by_vector[i]);
}

int stats_write_json(const char *path)
{
    FILE *f = fopen(path, "w");
    const char *sep = "";

    snapshot();
    if (!f)
        return -1;
    fprintf(f, "{\n");
    for (size_t i = 0; i < NSTATS; i++)
        fprintf(f, "  \"%s\": %llu,\n", stat_list[i].name, (unsigned long long)stat_value(i));
    fprintf(f, "  \"exits_by_cause\": {");
    for (int i = 0; i < STATS_MAX_EXIT; i++)
        if (stats.exits_by_cause[i]) {
            fprintf(f, "%s\"%s\": %llu", sep, exit_reason_name(i),
                    (unsigned long long)stats.exits_by_cause[i]);
            sep = ", ";
        }
    fprintf(f, "},\n  \"callouts_by_instruction\": {");
    sep = "";
    for (int i = 0; i < STATS_MAX_CALLOUT; i++)
        if (stats.callouts_by_mnemonic[i]) {
            fprintf(f, "%s\"%s\": %llu", sep, ZydisMnemonicGetString((ZydisMnemonic)i),
                    (unsigned long long)stats.callouts_by_mnemonic[i]);
            sep = ", ";
        }
    fprintf(f, "},\n  \"exceptions_by_vector\": {");
    sep = "";
    for (int i = 0; i < 32; i++)
        if (stats.exceptions_by_vector[i]) {
            fprintf(f, "%s\"%d\": %llu", sep, i, (unsigned long long)stats.exceptions_by_vector[i]);
            sep = ", ";
        }
    fprintf(f, "},\n  \"interrupts_by_vector\": {");
    sep = "";
    for (int i = 0; i < 256; i++)
        if (stats.interrupts_by_vector[i]) {
            fprintf(f, "%s\"%d\": %llu", sep, i, (unsigned long long)stats.interrupts_by_vector[i]);
            sep = ", ";
        }
    fprintf(f, "}\n}\n");
    return fclose(f) ? -1 : 0;
}
