#include "textflag.h"

DATA selc_neginf<>+0(SB)/4, $0xFF800000
GLOBL selc_neginf<>(SB), RODATA|NOPTR, $4

// LOAD_RANK_Y0 loads 8 scores from (SI) into Y0 as ranks: NaN becomes
// −Inf (Y13 holds −Inf; clobbers Y1).
#define LOAD_RANK_Y0 \
	VMOVUPS      (SI), Y0 \
	VCMPPS       $0x03, Y0, Y0, Y1 \
	VBLENDVPS    Y1, Y13, Y0, Y0

// SUM_LANES_Y12_AX adds Y12's 8 int32 lanes into AX (clobbers X1).
#define SUM_LANES_Y12_AX \
	VEXTRACTI128 $1, Y12, X1 \
	VPADDD       X1, X12, X12 \
	VPSHUFD      $0x4E, X12, X1 \
	VPADDD       X1, X12, X12 \
	VPSHUFD      $0xB1, X12, X1 \
	VPADDD       X1, X12, X12 \
	VMOVD        X12, AX

// func scanBracketAVX2(x *float32, n int, lo, hi float32, buf *float32) (below, inside int)
//
// ScanBracket on x[0:n], n a positive multiple of 8: 8 ranks at a time
// (NaN blended to −Inf), the ones below lo counted in 8 int32 lanes (a
// compare's all-ones lane is −1, subtracted), and the ones inside [lo, hi]
// (a few percent of them, so a branch on "any inside" is cheap) spilled to
// the 32-byte frame and copied out one set mask bit at a time.
TEXT ·scanBracketAVX2(SB), NOSPLIT, $32-48
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS lo+16(FP), Y15
	VBROADCASTSS hi+20(FP), Y14
	VBROADCASTSS selc_neginf<>(SB), Y13
	MOVQ         buf+24(FP), DI
	VPXOR        Y12, Y12, Y12              // below, per lane
	XORQ         R8, R8                     // inside
	SHRQ         $3, CX

scanloop:
	LOAD_RANK_Y0
	VCMPPS       $0x11, Y15, Y0, Y2         // r < lo
	VCMPPS       $0x1E, Y14, Y0, Y3         // r > hi
	VPSUBD       Y2, Y12, Y12
	VORPS        Y2, Y3, Y3
	VMOVMSKPS    Y3, BX
	XORL         $0xFF, BX                  // lanes inside [lo, hi]
	JZ           scannext
	VMOVUPS      Y0, 0(SP)

scanbits:
	BSFL         BX, AX
	MOVL         0(SP)(AX*4), DX
	MOVL         DX, (DI)(R8*4)
	INCQ         R8
	LEAL         -1(BX), AX
	ANDL         AX, BX
	JNZ          scanbits

scannext:
	ADDQ         $32, SI
	DECQ         CX
	JNZ          scanloop

	SUM_LANES_Y12_AX
	VZEROUPPER
	MOVQ         AX, below+32(FP)
	MOVQ         R8, inside+40(FP)
	RET

// func maskBelowAVX2(x *float32, n int, t float32, mask *bool) (equal int)
//
// MaskBelow on x[0:n], n a positive multiple of 8: the 8 compares' lanes
// (all ones or zero) are packed to 8 bytes and made 1 or 0 by a byte
// absolute value; the ranks equal to t are counted in 8 int32 lanes.
TEXT ·maskBelowAVX2(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS t+16(FP), Y15
	VBROADCASTSS selc_neginf<>(SB), Y13
	MOVQ         mask+24(FP), DI
	VPXOR        Y12, Y12, Y12              // equal, per lane
	SHRQ         $3, CX

maskloop:
	LOAD_RANK_Y0
	VCMPPS       $0x11, Y15, Y0, Y2         // r < t
	VCMPPS       $0x00, Y15, Y0, Y3         // r == t
	VPSUBD       Y3, Y12, Y12
	VEXTRACTI128 $1, Y2, X4
	VPACKSSDW    X4, X2, X2                 // 8 int16: −1 or 0
	VPACKSSWB    X2, X2, X2                 // 8 int8 in the low half
	VPABSB       X2, X2                     // 1 or 0
	MOVQ         X2, (DI)
	ADDQ         $32, SI
	ADDQ         $8, DI
	DECQ         CX
	JNZ          maskloop

	SUM_LANES_Y12_AX
	VZEROUPPER
	MOVQ         AX, equal+32(FP)
	RET
