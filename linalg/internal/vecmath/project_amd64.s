#include "textflag.h"

DATA projc_absmask<>+0(SB)/4, $0x7FFFFFFF
GLOBL projc_absmask<>(SB), RODATA|NOPTR, $4

// func projectSplitAVX2(v, b, c *float32, pruned *bool, n int)
//
// ProjectSplit on 8 entries at a time, n a positive multiple of 8: the 8
// mask bytes (0 or 1) widen to int32 lanes, and the lanes equal to 0
// (kept) are all ones: z = x AND keep, then the Go loop's arithmetic in
// its order.
TEXT ·projectSplitAVX2(SB), NOSPLIT, $0-40
	MOVQ      v+0(FP), SI
	MOVQ      b+8(FP), DX
	MOVQ      c+16(FP), DI
	MOVQ      pruned+24(FP), R8
	MOVQ      n+32(FP), CX
	SHRQ      $3, CX
	VPXOR     Y15, Y15, Y15

projloop:
	VPMOVZXBD (R8), Y1
	VPCMPEQD  Y15, Y1, Y1          // keep lanes
	VMOVUPS   (SI), Y0             // x
	VANDPS    Y1, Y0, Y2           // z = x⊙M
	VSUBPS    Y2, Y0, Y3           // u = x − z
	VMOVUPS   (DX), Y4             // b
	VSUBPS    Y3, Y2, Y5           // z − u
	VSUBPS    Y4, Y5, Y5           // z − u − b
	VADDPS    Y3, Y4, Y4           // b + u
	VMOVUPS   Y5, (DI)
	VMOVUPS   Y4, (SI)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, DI
	ADDQ      $8, R8
	DECQ      CX
	JNZ       projloop

	VZEROUPPER
	RET

// func absToAVX2(dst, src *float32, n int)
//
// AbsTo on 8 entries at a time, n a positive multiple of 8.
TEXT ·absToAVX2(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	SHRQ         $3, CX
	VBROADCASTSS projc_absmask<>(SB), Y15

absloop:
	VANDPS       (SI), Y15, Y0
	VMOVUPS      Y0, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          absloop

	VZEROUPPER
	RET
