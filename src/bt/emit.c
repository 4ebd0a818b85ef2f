/*
 * Out-of-line parts of the glue emitter (see emit.h).
 */
#include "bt/emit.h"

void emit_lea32(struct emitter *e, int dst, int base, int index, int scale, int32_t disp)
{
    int ss = scale == 8 ? 3 : scale == 4 ? 2 : scale == 2 ? 1 : 0;

    if (index < 0 && base >= 0) {
        emit_op_mem(e, false, (const uint8_t[]){0x8d}, 1, dst, base, disp);
        return;
    }
    emit_rex(e, false, dst, index < 0 ? 0 : index, base < 0 ? 0 : base);
    emit1(e, 0x8d);
    if (base < 0) {
        /* [index*scale + disp32] */
        emit1(e, (uint8_t)(0x04 | (dst & 7) << 3));
        emit1(e, (uint8_t)(ss << 6 | ((index < 0 ? 4 : index) & 7) << 3 | 5));
        emit4(e, (uint32_t)disp);
        return;
    }
    int mod = disp == 0 && (base & 7) != 5 ? 0 : (disp >= -128 && disp <= 127 ? 1 : 2);
    emit1(e, (uint8_t)(mod << 6 | (dst & 7) << 3 | 4));
    emit1(e, (uint8_t)(ss << 6 | (index & 7) << 3 | (base & 7)));
    if (mod == 1)
        emit1(e, (uint8_t)disp);
    else if (mod == 2)
        emit4(e, (uint32_t)disp);
}
