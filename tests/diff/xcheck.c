/*
 * diff-xcheck: Capstone as a second opinion on the decoder the translator
 * uses. Every instruction of a random corpus (the differential test's own
 * generator, so exactly the forms the translator is tested on, dead code
 * included) is decoded by Zydis (legacy 32-bit mode, 32-bit stack) and by
 * Capstone (CS_MODE_32, detail on). Their lengths must agree, and so must
 * their explicit operands: how many, of which kind (register, memory,
 * immediate), and what they say (register names; base, index, scale and
 * displacement; immediate values; branch targets). Where the two disagree by
 * design, the case is listed in benign() with the reason and the exact
 * operand shapes; anything else fails the test and is printed with both
 * decodings. The summary counts each benign case, so a listed exception that
 * stops occurring is visible too. DIFF_XCHECK_STRICT=1 reports them all.
 *
 * usage: diff-xcheck [--seed N] [--snippets N] [--insns N] (TACHYON_DIFF_SEED also works)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <Zydis/Zydis.h>
#include <capstone/capstone.h>

#include "gen.h"

enum kind { K_REG, K_MEM, K_IMM, K_OTHER };

struct dec {
    int len;
    int nops;
    enum kind ops[8];
    char detail[8][64]; /* normalized operand: register name, base/index/scale/disp, value */
    char text[200];
};

struct benign_case {
    const char *why;
    unsigned count;
};

static struct benign_case cases[] = {
#define B_NOP_REG 0
    { "0F 1F /r NOP with a register r/m: Capstone 4 cannot decode it (Zydis can)", 0 },
#define B_NOP_MEM 1
    { "0F 1F /r NOP with memory: Zydis shows the ModRM reg operand too (m,r), Capstone not (m)",
      0 },
#define B_STRING 2
    { "MOVS/CMPS/STOS/LODS/SCAS: Capstone shows the implicit [esi]/[edi]/accumulator operands,"
      " Zydis none", 0 },
#define B_AAM_AAD 3
    { "AAM/AAD imm8: Capstone 4 prints the base but gives no operand detail for it", 0 },
#define B_XCHG_ORDER 4
    { "XCHG eAX, r (90+r): the decoders list the two registers in opposite order", 0 },
};

static enum kind zkind(const ZydisDecodedOperand *o)
{
    switch (o->type) {
    case ZYDIS_OPERAND_TYPE_REGISTER: return K_REG;
    case ZYDIS_OPERAND_TYPE_MEMORY: return K_MEM;
    case ZYDIS_OPERAND_TYPE_IMMEDIATE: return K_IMM;
    default: return K_OTHER;
    }
}

static enum kind ckind(const cs_x86_op *o)
{
    switch (o->type) {
    case X86_OP_REG: return K_REG;
    case X86_OP_MEM: return K_MEM;
    case X86_OP_IMM: return K_IMM;
    default: return K_OTHER;
    }
}

static const char *reg_str(const char *name)
{
    return name && *name ? name : "-";
}

static uint32_t size_mask(unsigned bits)
{
    return bits >= 32 || bits == 0 ? ~0u : (1u << bits) - 1;
}

/* Operands in one spelling for both decoders: registers by name; memory as
 * base,index,scale,disp (scale 0 without an index, disp modulo 2^32);
 * immediates modulo the operand size. Segments are left out: Zydis always names
 * one, Capstone only an override. */
static void zdetail(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *o,
                    uint32_t pc, char *out)
{
    ZyanU64 target;

    switch (o->type) {
    case ZYDIS_OPERAND_TYPE_REGISTER:
        snprintf(out, 64, "%s", ZydisRegisterGetString(o->reg.value));
        break;
    case ZYDIS_OPERAND_TYPE_MEMORY:
        snprintf(out, 64, "%s,%s,%d,%x",
                 reg_str(o->mem.base == ZYDIS_REGISTER_NONE ? NULL :
                         ZydisRegisterGetString(o->mem.base)),
                 reg_str(o->mem.index == ZYDIS_REGISTER_NONE ? NULL :
                         ZydisRegisterGetString(o->mem.index)),
                 o->mem.index == ZYDIS_REGISTER_NONE ? 0 : o->mem.scale,
                 (uint32_t)o->mem.disp.value);
        break;
    case ZYDIS_OPERAND_TYPE_IMMEDIATE:
        /* Capstone gives branch targets, Zydis the displacement: compare targets. */
        if (o->imm.is_relative && ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(in, o, pc, &target)))
            snprintf(out, 64, "%x", (uint32_t)target);
        else
            snprintf(out, 64, "%x", (uint32_t)o->imm.value.u & size_mask(o->size));
        break;
    default:
        snprintf(out, 64, "?");
        break;
    }
}

/* The width to compare Capstone's immediate operand j in: Zydis' operand size, but whole
 * 32 bits for branch targets (Capstone reports them absolute). */
static unsigned imm_bits(const struct dec *z, const ZydisDecodedOperand *zo, int j)
{
    if (j >= z->nops || zo[j].type != ZYDIS_OPERAND_TYPE_IMMEDIATE || zo[j].imm.is_relative)
        return 32;
    return zo[j].size;
}

static void cdetail(csh cs, const cs_x86_op *o, unsigned bits, char *out)
{
    switch (o->type) {
    case X86_OP_REG:
        snprintf(out, 64, "%s", reg_str(cs_reg_name(cs, o->reg)));
        break;
    case X86_OP_MEM:
        snprintf(out, 64, "%s,%s,%d,%x",
                 reg_str(o->mem.base == X86_REG_INVALID ? NULL : cs_reg_name(cs, o->mem.base)),
                 reg_str(o->mem.index == X86_REG_INVALID ? NULL : cs_reg_name(cs, o->mem.index)),
                 o->mem.index == X86_REG_INVALID ? 0 : o->mem.scale, (uint32_t)o->mem.disp);
        break;
    case X86_OP_IMM:
        snprintf(out, 64, "%x", (uint32_t)o->imm & size_mask(bits));
        break;
    default:
        snprintf(out, 64, "?");
        break;
    }
}

static const char *kind_str(const struct dec *d)
{
    static char buf[4][16];
    static int slot;
    char *b = buf[slot++ & 3];
    int i;

    for (i = 0; i < d->nops && i < 15; i++)
        b[i] = "rmi?"[d->ops[i]];
    b[i] = 0;
    return b;
}

/* The bytes after any legacy prefixes. */
static const uint8_t *skip_prefixes(const uint8_t *b, int len, int *rest)
{
    int i = 0;

    while (i < len && (b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf0 || b[i] == 0xf2 ||
                       b[i] == 0xf3 || b[i] == 0x26 || b[i] == 0x2e || b[i] == 0x36 ||
                       b[i] == 0x3e || b[i] == 0x64 || b[i] == 0x65))
        i++;
    *rest = len - i;
    return b + i;
}

static bool shape(const struct dec *d, const char *kinds)
{
    int n = (int)strlen(kinds);

    if (d->nops != n)
        return false;
    for (int i = 0; i < n; i++)
        if ("rmi?"[d->ops[i]] != kinds[i])
            return false;
    return true;
}

/*
 * Is this disagreement one of the known ones? Returns the case index or -1.
 * Each case names the opcode and the exact operand shapes on both sides, so
 * a new kind of disagreement on the same opcode still fails.
 */
static int benign(const uint8_t *b, int len, const struct dec *z, const struct dec *c, bool cs_ok)
{
    int rest;
    const uint8_t *p = skip_prefixes(b, len, &rest);
    uint8_t op = p[0];

    if (op == 0x0f && rest > 2 && p[1] == 0x1f) {
        if (!cs_ok && (p[2] >> 6) == 3 && shape(z, "rr"))
            return B_NOP_REG;
        if (cs_ok && z->len == c->len && shape(z, "mr") && shape(c, "m"))
            return B_NOP_MEM;
        return -1;
    }
    if (!cs_ok || z->len != c->len)
        return -1; /* lengths never get a pass */
    if (((op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf)) && shape(z, "") &&
        (shape(c, "mm") || shape(c, "mr") || shape(c, "rm")))
        return B_STRING;
    if ((op == 0xd4 || op == 0xd5) && shape(z, "i") && shape(c, ""))
        return B_AAM_AAD;
    if (op >= 0x91 && op <= 0x97 && shape(z, "rr") && shape(c, "rr") &&
        !strcmp(z->detail[0], c->detail[1]) && !strcmp(z->detail[1], c->detail[0]))
        return B_XCHG_ORDER;
    return -1;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *e = getenv(name);
    return e && *e ? strtoull(e, NULL, 0) : def;
}

int main(int argc, char **argv)
{
    static struct snippet s;
    struct gen_params gp = { .ninsns = 120 };
    uint64_t seed = env_u64("TACHYON_DIFF_SEED", ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid());
    uint32_t count = 2000;
    unsigned long checked = 0, failures = 0;
    bool strict = getenv("DIFF_XCHECK_STRICT") != NULL; /* list even the benign cases */
    ZydisDecoder zd;
    ZydisFormatter zf;
    csh cs;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "--snippets"))
            count = (uint32_t)strtoul(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "--insns"))
            gp.ninsns = (unsigned)strtoul(argv[i + 1], NULL, 0);
        else {
            fprintf(stderr, "usage: diff-xcheck [--seed N] [--snippets N] [--insns N]\n");
            return 2;
        }
    }
    ZydisDecoderInit(&zd, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
    ZydisFormatterInit(&zf, ZYDIS_FORMATTER_STYLE_INTEL);
    if (cs_open(CS_ARCH_X86, CS_MODE_32, &cs) != CS_ERR_OK) {
        fprintf(stderr, "diff-xcheck: cs_open failed\n");
        return 2;
    }
    cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
    fprintf(stderr, "diff-xcheck: seed %#llx, %u snippets\n", (unsigned long long)seed, count);

    for (uint32_t k = 0; k < count && (failures < 20 || strict); k++) {
        gen_snippet(&s, seed, k, &gp);
        for (uint32_t i = 0; i < s.ninsns; i++) {
            uint32_t off = s.insn_off[i];
            uint32_t end = i + 1 < s.ninsns ? s.insn_off[i + 1] : s.code_len;
            const uint8_t *b = s.code + off;
            ZydisDecodedInstruction zi;
            ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
            struct dec z = { 0 }, c = { 0 };
            cs_insn *ci;
            bool cs_ok;

            checked++;
            if (ZYAN_FAILED(ZydisDecoderDecodeFull(&zd, b, end - off, &zi, zo))) {
                fprintf(stderr, "diff-xcheck: Zydis cannot decode the generator's bytes\n");
                failures++;
                continue;
            }
            z.len = zi.length;
            z.nops = zi.operand_count_visible;
            for (int j = 0; j < z.nops && j < 8; j++)
                z.ops[j] = zkind(&zo[j]);
            for (int j = 0; j < z.nops && j < 8; j++)
                zdetail(&zi, &zo[j], DIFF_CODE_BASE + off, z.detail[j]);
            ZydisFormatterFormatInstruction(&zf, &zi, zo, zi.operand_count_visible, z.text,
                                            sizeof(z.text), DIFF_CODE_BASE + off, NULL);

            cs_ok = cs_disasm(cs, b, end - off, DIFF_CODE_BASE + off, 1, &ci) == 1;
            if (cs_ok) {
                c.len = ci->size;
                c.nops = ci->detail->x86.op_count;
                for (int j = 0; j < c.nops && j < 8; j++)
                    c.ops[j] = ckind(&ci->detail->x86.operands[j]);
                for (int j = 0; j < c.nops && j < 8; j++)
                    cdetail(cs, &ci->detail->x86.operands[j], imm_bits(&z, zo, j), c.detail[j]);
                snprintf(c.text, sizeof(c.text), "%s %s", ci->mnemonic, ci->op_str);
                cs_free(ci, 1);
            }
            if (cs_ok && z.len == c.len && z.nops == c.nops &&
                !memcmp(z.ops, c.ops, sizeof(z.ops)) &&
                !memcmp(z.detail, c.detail, sizeof(z.detail)))
                continue;
            int bc = strict ? -1 : benign(b, (int)(end - off), &z, &c, cs_ok);
            if (bc >= 0) {
                cases[bc].count++;
                continue;
            }
            failures++;
            fprintf(stderr,
                    "diff-xcheck: decoders disagree (snippet %u of seed %#llx, offset %#x):",
                    k, (unsigned long long)seed, off);
            for (uint32_t j = off; j < end; j++)
                fprintf(stderr, " %02x", s.code[j]);
            fprintf(stderr, "\n  zydis:    len %d, operands %-4s %s\n", z.len, kind_str(&z),
                    z.text);
            for (int j = 0; j < z.nops && j < 8; j++)
                fprintf(stderr, "            op%d %s\n", j, z.detail[j]);
            if (cs_ok)
            {
                fprintf(stderr, "  capstone: len %d, operands %-4s %s\n", c.len, kind_str(&c),
                        c.text);
                for (int j = 0; j < c.nops && j < 8; j++)
                    fprintf(stderr, "            op%d %s\n", j, c.detail[j]);
            }
            else
                fprintf(stderr, "  capstone: cannot decode\n");
        }
    }
    cs_close(&cs);
    fprintf(stderr, "diff-xcheck: %lu instructions, %lu unexplained disagreements\n", checked,
            failures);
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        fprintf(stderr, "  %7u benign: %s\n", cases[i].count, cases[i].why);
    if (failures)
        fprintf(stderr, "diff-xcheck: FAILED (replay: diff-xcheck --seed %#llx --snippets %u)\n",
                (unsigned long long)seed, count);
    return failures ? 1 : 0;
}
