#include "textflag.h"

// Each constant 8 times, so that an AVX2 instruction takes it as a 256-bit
// memory operand. The values are exp.go's constants rounded to float32.
DATA expc_log2e<>+0(SB)/4, $0x3FB8AA3B
DATA expc_log2e<>+4(SB)/4, $0x3FB8AA3B
DATA expc_log2e<>+8(SB)/4, $0x3FB8AA3B
DATA expc_log2e<>+12(SB)/4, $0x3FB8AA3B
DATA expc_log2e<>+16(SB)/4, $0x3FB8AA3B
DATA expc_log2e<>+20(SB)/4, $0x3FB8AA3B
DATA expc_log2e<>+24(SB)/4, $0x3FB8AA3B
DATA expc_log2e<>+28(SB)/4, $0x3FB8AA3B
GLOBL expc_log2e<>(SB), RODATA|NOPTR, $32
DATA expc_round<>+0(SB)/4, $0x4B400000
DATA expc_round<>+4(SB)/4, $0x4B400000
DATA expc_round<>+8(SB)/4, $0x4B400000
DATA expc_round<>+12(SB)/4, $0x4B400000
DATA expc_round<>+16(SB)/4, $0x4B400000
DATA expc_round<>+20(SB)/4, $0x4B400000
DATA expc_round<>+24(SB)/4, $0x4B400000
DATA expc_round<>+28(SB)/4, $0x4B400000
GLOBL expc_round<>(SB), RODATA|NOPTR, $32
DATA expc_ln2hi<>+0(SB)/4, $0x3F318000
DATA expc_ln2hi<>+4(SB)/4, $0x3F318000
DATA expc_ln2hi<>+8(SB)/4, $0x3F318000
DATA expc_ln2hi<>+12(SB)/4, $0x3F318000
DATA expc_ln2hi<>+16(SB)/4, $0x3F318000
DATA expc_ln2hi<>+20(SB)/4, $0x3F318000
DATA expc_ln2hi<>+24(SB)/4, $0x3F318000
DATA expc_ln2hi<>+28(SB)/4, $0x3F318000
GLOBL expc_ln2hi<>(SB), RODATA|NOPTR, $32
DATA expc_ln2lo<>+0(SB)/4, $0xB95E8083
DATA expc_ln2lo<>+4(SB)/4, $0xB95E8083
DATA expc_ln2lo<>+8(SB)/4, $0xB95E8083
DATA expc_ln2lo<>+12(SB)/4, $0xB95E8083
DATA expc_ln2lo<>+16(SB)/4, $0xB95E8083
DATA expc_ln2lo<>+20(SB)/4, $0xB95E8083
DATA expc_ln2lo<>+24(SB)/4, $0xB95E8083
DATA expc_ln2lo<>+28(SB)/4, $0xB95E8083
GLOBL expc_ln2lo<>(SB), RODATA|NOPTR, $32
DATA expc_c0<>+0(SB)/4, $0x39506967
DATA expc_c0<>+4(SB)/4, $0x39506967
DATA expc_c0<>+8(SB)/4, $0x39506967
DATA expc_c0<>+12(SB)/4, $0x39506967
DATA expc_c0<>+16(SB)/4, $0x39506967
DATA expc_c0<>+20(SB)/4, $0x39506967
DATA expc_c0<>+24(SB)/4, $0x39506967
DATA expc_c0<>+28(SB)/4, $0x39506967
GLOBL expc_c0<>(SB), RODATA|NOPTR, $32
DATA expc_c1<>+0(SB)/4, $0x3AB743CE
DATA expc_c1<>+4(SB)/4, $0x3AB743CE
DATA expc_c1<>+8(SB)/4, $0x3AB743CE
DATA expc_c1<>+12(SB)/4, $0x3AB743CE
DATA expc_c1<>+16(SB)/4, $0x3AB743CE
DATA expc_c1<>+20(SB)/4, $0x3AB743CE
DATA expc_c1<>+24(SB)/4, $0x3AB743CE
DATA expc_c1<>+28(SB)/4, $0x3AB743CE
GLOBL expc_c1<>(SB), RODATA|NOPTR, $32
DATA expc_c2<>+0(SB)/4, $0x3C088908
DATA expc_c2<>+4(SB)/4, $0x3C088908
DATA expc_c2<>+8(SB)/4, $0x3C088908
DATA expc_c2<>+12(SB)/4, $0x3C088908
DATA expc_c2<>+16(SB)/4, $0x3C088908
DATA expc_c2<>+20(SB)/4, $0x3C088908
DATA expc_c2<>+24(SB)/4, $0x3C088908
DATA expc_c2<>+28(SB)/4, $0x3C088908
GLOBL expc_c2<>(SB), RODATA|NOPTR, $32
DATA expc_c3<>+0(SB)/4, $0x3D2AA9C1
DATA expc_c3<>+4(SB)/4, $0x3D2AA9C1
DATA expc_c3<>+8(SB)/4, $0x3D2AA9C1
DATA expc_c3<>+12(SB)/4, $0x3D2AA9C1
DATA expc_c3<>+16(SB)/4, $0x3D2AA9C1
DATA expc_c3<>+20(SB)/4, $0x3D2AA9C1
DATA expc_c3<>+24(SB)/4, $0x3D2AA9C1
DATA expc_c3<>+28(SB)/4, $0x3D2AA9C1
GLOBL expc_c3<>(SB), RODATA|NOPTR, $32
DATA expc_c4<>+0(SB)/4, $0x3E2AAAAA
DATA expc_c4<>+4(SB)/4, $0x3E2AAAAA
DATA expc_c4<>+8(SB)/4, $0x3E2AAAAA
DATA expc_c4<>+12(SB)/4, $0x3E2AAAAA
DATA expc_c4<>+16(SB)/4, $0x3E2AAAAA
DATA expc_c4<>+20(SB)/4, $0x3E2AAAAA
DATA expc_c4<>+24(SB)/4, $0x3E2AAAAA
DATA expc_c4<>+28(SB)/4, $0x3E2AAAAA
GLOBL expc_c4<>(SB), RODATA|NOPTR, $32
DATA expc_c5<>+0(SB)/4, $0x3F000000
DATA expc_c5<>+4(SB)/4, $0x3F000000
DATA expc_c5<>+8(SB)/4, $0x3F000000
DATA expc_c5<>+12(SB)/4, $0x3F000000
DATA expc_c5<>+16(SB)/4, $0x3F000000
DATA expc_c5<>+20(SB)/4, $0x3F000000
DATA expc_c5<>+24(SB)/4, $0x3F000000
DATA expc_c5<>+28(SB)/4, $0x3F000000
GLOBL expc_c5<>(SB), RODATA|NOPTR, $32
DATA expc_one<>+0(SB)/4, $0x3F800000
DATA expc_one<>+4(SB)/4, $0x3F800000
DATA expc_one<>+8(SB)/4, $0x3F800000
DATA expc_one<>+12(SB)/4, $0x3F800000
DATA expc_one<>+16(SB)/4, $0x3F800000
DATA expc_one<>+20(SB)/4, $0x3F800000
DATA expc_one<>+24(SB)/4, $0x3F800000
DATA expc_one<>+28(SB)/4, $0x3F800000
GLOBL expc_one<>(SB), RODATA|NOPTR, $32
DATA expc_flush<>+0(SB)/4, $0xC2A00000
DATA expc_flush<>+4(SB)/4, $0xC2A00000
DATA expc_flush<>+8(SB)/4, $0xC2A00000
DATA expc_flush<>+12(SB)/4, $0xC2A00000
DATA expc_flush<>+16(SB)/4, $0xC2A00000
DATA expc_flush<>+20(SB)/4, $0xC2A00000
DATA expc_flush<>+24(SB)/4, $0xC2A00000
DATA expc_flush<>+28(SB)/4, $0xC2A00000
GLOBL expc_flush<>(SB), RODATA|NOPTR, $32
DATA expc_expmax<>+0(SB)/4, $0x42B17217
DATA expc_expmax<>+4(SB)/4, $0x42B17217
DATA expc_expmax<>+8(SB)/4, $0x42B17217
DATA expc_expmax<>+12(SB)/4, $0x42B17217
DATA expc_expmax<>+16(SB)/4, $0x42B17217
DATA expc_expmax<>+20(SB)/4, $0x42B17217
DATA expc_expmax<>+24(SB)/4, $0x42B17217
DATA expc_expmax<>+28(SB)/4, $0x42B17217
GLOBL expc_expmax<>(SB), RODATA|NOPTR, $32
DATA expc_inf<>+0(SB)/4, $0x7F800000
DATA expc_inf<>+4(SB)/4, $0x7F800000
DATA expc_inf<>+8(SB)/4, $0x7F800000
DATA expc_inf<>+12(SB)/4, $0x7F800000
DATA expc_inf<>+16(SB)/4, $0x7F800000
DATA expc_inf<>+20(SB)/4, $0x7F800000
DATA expc_inf<>+24(SB)/4, $0x7F800000
DATA expc_inf<>+28(SB)/4, $0x7F800000
GLOBL expc_inf<>(SB), RODATA|NOPTR, $32

// func expShiftAVX2(x *float32, n int, shift float32) float64
//
// ExpShift's algorithm on 8 lanes at a time (n a multiple of 8), with FMA
// for the reduction and the polynomial (Horner), and the sum of the results
// in 2×4 float64 lanes. Out-of-range lanes are computed on the clamped
// input and replaced afterwards: 0 below ExpFlush, +Inf above ExpMax, the
// input itself when it is NaN.
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS shift+16(FP), Y15
	VXORPD       Y13, Y13, Y13
	VXORPD       Y14, Y14, Y14
	SHRQ         $3, CX
	JZ           done

loop:
	VMOVUPS      (DI), Y0
	VSUBPS       Y15, Y0, Y0                // v = x - shift
	VMAXPS       expc_flush<>(SB), Y0, Y1   // clamped v (NaN -> flush)
	VMINPS       expc_expmax<>(SB), Y1, Y1
	VMOVUPS      expc_round<>(SB), Y2
	VFMADD231PS  expc_log2e<>(SB), Y1, Y2   // z = v·log2e + 1.5·2²³
	VSUBPS       expc_round<>(SB), Y2, Y3   // n = z - 1.5·2²³
	VFNMADD231PS expc_ln2hi<>(SB), Y3, Y1   // r = v - n·ln2hi
	VFNMADD231PS expc_ln2lo<>(SB), Y3, Y1   // r -= n·ln2lo
	VMOVUPS      expc_c0<>(SB), Y4
	VFMADD213PS  expc_c1<>(SB), Y1, Y4      // p = c0·r + c1
	VFMADD213PS  expc_c2<>(SB), Y1, Y4
	VFMADD213PS  expc_c3<>(SB), Y1, Y4
	VFMADD213PS  expc_c4<>(SB), Y1, Y4
	VFMADD213PS  expc_c5<>(SB), Y1, Y4
	VMULPS       Y1, Y1, Y5                 // r²
	VADDPS       expc_one<>(SB), Y1, Y6     // r + 1
	VFMADD231PS  Y5, Y4, Y6                 // e^r = p·r² + r + 1
	VPSUBD       expc_round<>(SB), Y2, Y2   // n as an integer
	VPSLLD       $23, Y2, Y2
	VPADDD       Y2, Y6, Y6                 // e^r·2ⁿ
	VCMPPS       $0x11, expc_flush<>(SB), Y0, Y7  // v < ExpFlush
	VANDNPS      Y6, Y7, Y6
	VCMPPS       $0x1E, expc_expmax<>(SB), Y0, Y7 // v > ExpMax
	VBLENDVPS    Y7, expc_inf<>(SB), Y6, Y6
	VCMPPS       $0x03, Y0, Y0, Y7                // v is NaN
	VBLENDVPS    Y7, Y0, Y6, Y6
	VMOVUPS      Y6, (DI)
	VCVTPS2PD    X6, Y8
	VADDPD       Y8, Y13, Y13
	VEXTRACTF128 $1, Y6, X9
	VCVTPS2PD    X9, Y9
	VADDPD       Y9, Y14, Y14
	ADDQ         $32, DI
	DECQ         CX
	JNZ          loop

done:
	VADDPD       Y14, Y13, Y13
	VEXTRACTF128 $1, Y13, X14
	VADDPD       X14, X13, X13
	VHADDPD      X13, X13, X13
	VZEROUPPER
	MOVSD        X13, ret+24(FP)
	RET

// func maxAVX2(x *float32, n int) float32
//
// The largest of x[0:n] (n a positive multiple of 8), NaNs aside.
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VMOVUPS      (DI), Y0
	VMOVUPS      Y0, Y1
	SHRQ         $3, CX
	ADDQ         $32, DI
	DECQ         CX
	JZ           maxdone

maxloop:
	VMAXPS       (DI), Y0, Y0
	ADDQ         $32, DI
	DECQ         CX
	JNZ          maxloop

maxdone:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4E, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xB1, X0, X1
	VMAXPS       X1, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+16(FP)
	RET

// func cpuid(leaf, sub uint32) (a, b, c, d uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL CX, c+16(FP)
	MOVL DX, d+20(FP)
	RET

// func xgetbv0() uint32
TEXT ·xgetbv0(SB), NOSPLIT, $0-4
	MOVL   $0, CX
	XGETBV
	MOVL   AX, ret+0(FP)
	RET
