/*
 * Comparing two runs of a snippet and explaining a difference: which
 * registers, which flags (by name), which data bytes, and a Capstone listing
 * of the snippet with the seed and index that rebuild it. Capstone is used
 * here, not Zydis, so the listing does not come from the decoder the
 * translator and the generator share.
 */
#include <stdio.h>
#include <string.h>

#include <capstone/capstone.h>

#include "runner.h"

#define FLAGS_COMPARED 0x0cd5u /* CF PF AF ZF SF DF OF */

static const char *const reg_name[8] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi" };

static void flag_names(uint32_t f, char *buf, size_t len)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = { { 0x1, "CF" }, { 0x4, "PF" }, { 0x10, "AF" }, { 0x40, "ZF" }, { 0x80, "SF" },
                  { 0x200, "IF" }, { 0x400, "DF" }, { 0x800, "OF" } };
    size_t n = 0;

    buf[0] = 0;
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((f & names[i].bit) && n + 4 < len)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? " " : "", names[i].name);
}

void diff_print_snippet(const struct snippet *s, uint32_t mark_eip, FILE *out)
{
    static csh cs;
    static bool cs_ok;
    char fl[64];

    fprintf(out, "  snippet %u of seed %#llx\n", s->index, (unsigned long long)s->seed);
    flag_names(s->in.eflags, fl, sizeof(fl));
    fprintf(out, "  initial:");
    for (int r = 0; r < 8; r++)
        fprintf(out, " %s=%08x", reg_name[r], s->in.gpr[r]);
    fprintf(out, " eflags=%08x (%s)\n", s->in.eflags, fl);
    flag_names(s->undef_flags, fl, sizeof(fl));
    fprintf(out, "  undefined at the end (not compared): %s\n", s->undef_flags ? fl : "none");
    fprintf(out, "  code (%u bytes, %u instructions, at %#x):\n", s->code_len, s->ninsns,
            DIFF_CODE_BASE);

    if (!cs_ok) {
        if (cs_open(CS_ARCH_X86, CS_MODE_32, &cs) != CS_ERR_OK) {
            fprintf(out, "    (capstone unavailable)\n");
            return;
        }
        cs_ok = true;
    }
    for (uint32_t i = 0; i < s->ninsns; i++) {
        uint32_t off = s->insn_off[i];
        uint32_t end = i + 1 < s->ninsns ? s->insn_off[i + 1] : s->code_len;
        cs_insn *insn;
        size_t n = cs_disasm(cs, s->code + off, end - off, DIFF_CODE_BASE + off, 1, &insn);
        char hex[48] = "";

        for (uint32_t j = off; j < end && j - off < 15; j++)
            snprintf(hex + strlen(hex), sizeof(hex) - strlen(hex), "%02x ", s->code[j]);
        const char *mark = DIFF_CODE_BASE + off == mark_eip ? "=>" : "  ";
        if (n == 1) {
            fprintf(out, "  %s%08x: %-30s %s %s\n", mark, DIFF_CODE_BASE + off, hex,
                    insn->mnemonic, insn->op_str);
            cs_free(insn, n);
        } else {
            fprintf(out, "  %s%08x: %-30s (capstone cannot decode)\n", mark, DIFF_CODE_BASE + off,
                    hex);
        }
    }
}

static unsigned diff_data(const struct diff_result *ref, const struct diff_result *got, FILE *out)
{
    unsigned nbytes = 0, nranges = 0;

    for (uint32_t i = 0; i < DIFF_DATA_SIZE; i++)
        nbytes += ref->data[i] != got->data[i];
    if (!nbytes || !out)
        return nbytes;
    fprintf(out, "  data: %u bytes differ\n", nbytes);
    for (uint32_t i = 0; i < DIFF_DATA_SIZE && nranges < 16;) {
        if (ref->data[i] == got->data[i]) {
            i++;
            continue;
        }
        uint32_t lo = i & ~15u;
        fprintf(out, "    %08x native: ", DIFF_DATA_BASE + lo);
        for (uint32_t j = lo; j < lo + 16; j++)
            fprintf(out, "%02x ", ref->data[j]);
        fprintf(out, "\n    %8s  other: ", "");
        for (uint32_t j = lo; j < lo + 16; j++)
            fprintf(out, ref->data[j] == got->data[j] ? "%02x " : "%02X*", got->data[j]);
        fprintf(out, "\n");
        nranges++;
        i = lo + 16;
    }
    return nbytes;
}

unsigned diff_compare(const struct snippet *s, const struct diff_result *ref,
                      const struct diff_result *got, FILE *out)
{
    uint32_t fmask = FLAGS_COMPARED & ~s->undef_flags;
    unsigned n = 0;

    if (out && got->note[0])
        fprintf(out, "  other run: %s\n", got->note);
    if (ref->status != RUN_OK || got->status != RUN_OK) {
        if (out)
            fprintf(out, "  run failed: %s\n", ref->status != RUN_OK ? ref->why : got->why);
        return 1;
    }
    for (int r = 0; r < 8; r++) {
        if (ref->regs.gpr[r] == got->regs.gpr[r])
            continue;
        n++;
        if (out)
            fprintf(out, "  %s: native %08x, other %08x (xor %08x)\n", reg_name[r],
                    ref->regs.gpr[r], got->regs.gpr[r], ref->regs.gpr[r] ^ got->regs.gpr[r]);
    }
    if ((ref->regs.eflags ^ got->regs.eflags) & fmask) {
        char a[64], b[64], d[64];
        n++;
        flag_names(ref->regs.eflags & fmask, a, sizeof(a));
        flag_names(got->regs.eflags & fmask, b, sizeof(b));
        flag_names((ref->regs.eflags ^ got->regs.eflags) & fmask, d, sizeof(d));
        if (out)
            fprintf(out, "  eflags: native %08x [%s], other %08x [%s]: %s differ\n",
                    ref->regs.eflags, a, got->regs.eflags, b, d);
    }
    if (got->has_eip) {
        /* tachyon runs the snippet followed by cli; hlt: EIP is at or just past the hlt */
        uint32_t end = DIFF_CODE_BASE + s->code_len;
        if (got->eip != end + 1 && got->eip != end + 2) {
            n++;
            if (out)
                fprintf(out, "  eip: %08x, expected %08x (after cli; hlt at %08x)\n", got->eip,
                        end + 2, end);
        }
    }
    unsigned nb = diff_data(ref, got, out);
    return n + (nb != 0);
}

unsigned diff_check_prediction(const struct snippet *s, const struct diff_result *ref, FILE *out)
{
    unsigned n = 0;

    if (ref->status != RUN_OK)
        return 0;
    for (int r = 0; r < 8; r++) {
        if (!((ref->regs.gpr[r] ^ s->known_val[r]) & s->known_mask[r]))
            continue;
        n++;
        if (out)
            fprintf(out, "  generator predicted %s = %08x under mask %08x, the CPU has %08x\n",
                    reg_name[r], s->known_val[r], s->known_mask[r], ref->regs.gpr[r]);
    }
    if (s->known_df >= 0 && (int)((ref->regs.eflags >> 10) & 1) != s->known_df) {
        n++;
        if (out)
            fprintf(out, "  generator predicted DF = %d, the CPU has %u\n", s->known_df,
                    (ref->regs.eflags >> 10) & 1);
    }
    return n;
}
