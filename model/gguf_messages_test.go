package model

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// rawU8 encodes a GGUF u8 value, which ggufBuilder.add has no Go type for.
func rawU8(v byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, ggufU8), v)
}

// TestGGUFMetadataMessages: a metadata value of the wrong type, absent or
// out of line is refused in one short line that names the file once and the
// key, shows the value's GGUF type and an excerpt of it, and has no Go
// formatting artefacts or Go type names, however large the value.
func TestGGUFMetadataMessages(t *testing.T) {
	many := make([]string, 1<<15)
	for i := range many {
		many[i] = strings.Repeat("▁piece", 10)
	}
	ids := make([]int32, 1<<15)
	for i := range ids {
		ids[i] = int32(i)
	}
	with := func(over map[string]any) func() *ggufBuilder {
		return func() *ggufBuilder { return tinyGGUFWith(false, over) }
	}
	plus := func(key string, v any) func() *ggufBuilder {
		return func() *ggufBuilder { return tinyGGUF(false).add(key, v) }
	}
	cases := []struct {
		name string
		file func() *ggufBuilder
		want string
	}{
		{"architecture absent", with(map[string]any{"general.architecture": nil}),
			`missing metadata key general.architecture, want string "llama"`},
		{"architecture u8", with(map[string]any{"general.architecture": rawU8(7)}),
			`general.architecture is u8 7, want string "llama"`},
		{"architecture long string", with(map[string]any{"general.architecture": strings.Repeat("x", 100_000)}),
			`general.architecture is string "xxxxxxxx`},
		{"architecture control bytes", with(map[string]any{"general.architecture": strings.Repeat("\x00\xff", 50_000)}),
			`general.architecture is string "\x00\xff`},
		{"architecture array", with(map[string]any{"general.architecture": many}),
			`general.architecture is array of 32768 string ["▁piece▁piece`},
		{"block count f32", with(map[string]any{"llama.block_count": float32(1.5)}),
			"llama.block_count is f32 1.5, want an integer"},
		{"epsilon absent", with(map[string]any{"llama.attention.layer_norm_rms_epsilon": nil}),
			"missing metadata key llama.attention.layer_norm_rms_epsilon, want a float"},
		{"epsilon u32", with(map[string]any{"llama.attention.layer_norm_rms_epsilon": uint32(1)}),
			"llama.attention.layer_norm_rms_epsilon is u32 1, want a float"},
		{"rope dims mismatch", plus("llama.rope.dimension_count", uint32(4)),
			"llama.rope.dimension_count = 4, want the head dim 2"},
		{"rope dims string", plus("llama.rope.dimension_count", "two"),
			`llama.rope.dimension_count is string "two", want an integer`},
		{"value length f32", plus("llama.attention.value_length", float32(2)),
			"llama.attention.value_length is f32 2, want an integer"},
		{"scale linear 2", plus("llama.rope.scale_linear", float32(2)),
			"llama.rope.scale_linear = 2, want 1"},
		{"scale linear array", plus("llama.rope.scale_linear", ids),
			"llama.rope.scale_linear is array of 32768 i32 [0, 1, 2, …], want a float"},
		{"scaling type", plus("llama.rope.scaling.type", "linear"),
			`llama.rope.scaling.type is string "linear", want string "none"`},
		{"vocab size mismatch", plus("llama.vocab_size", uint32(7)),
			"llama.vocab_size = 7, want token_embd.weight's 5 rows"},
		{"vocab size bool", plus("llama.vocab_size", true),
			"llama.vocab_size is bool true, want an integer"},
		{"alignment 3", plus("general.alignment", uint32(3)),
			"general.alignment is u32 3, want a u32 power of two"},
		{"alignment array", plus("general.alignment", ids),
			"general.alignment is array of 32768 i32 [0, 1, 2, …]"},
		{"tokenizer model absent", with(map[string]any{"tokenizer.ggml.model": nil}),
			`missing metadata key tokenizer.ggml.model, want string "llama"`},
		{"tokenizer model array", with(map[string]any{"tokenizer.ggml.model": many}),
			"tokenizer.ggml.model is array of 32768 string"},
		{"tokens i32", with(map[string]any{"tokenizer.ggml.tokens": []int32{1, 2}}),
			"tokenizer.ggml.tokens is array of 2 i32 [1, 2], want an array of string"},
		{"scores short", with(map[string]any{"tokenizer.ggml.scores": []float32{0.5}}),
			"tokenizer.ggml.scores is array of 1 f32 [0.5], want an array of 5 f32"},
		{"token types f32", with(map[string]any{"tokenizer.ggml.token_type": []float32{1, 1, 1, 1, 1}}),
			"tokenizer.ggml.token_type is array of 5 f32 [1, 1, 1, …], want an array of 5 i32"},
		{"space prefix u8", plus("tokenizer.ggml.add_space_prefix", rawU8(1)),
			"tokenizer.ggml.add_space_prefix is u8 1, want a bool"},
	}
	goTypes := []string{"uint", "int8", "int16", "int32", "int64", "float32", "float64", "[]", "interface", "map["}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.file().bytes()
			_, err := readGGUFModel(bytes.NewReader(b), int64(len(b)), "hostile.gguf")
			if err == nil {
				t.Fatalf("accepted; want %q", c.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("%s\ndoes not say %q", msg, c.want)
			}
			if n := strings.Count(msg, "hostile.gguf"); n != 1 {
				t.Errorf("%s\nnames the file %d times, want once", msg, n)
			}
			for _, bad := range append([]string{"%!", "<nil>", "\n"}, goTypes...) {
				if strings.Contains(msg, bad) {
					t.Errorf("%s\ncontains %q", msg, bad)
				}
			}
			if len(msg) > 300 {
				t.Errorf("%d-byte message: %.300s…", len(msg), msg)
			}
		})
	}
}

// TestConfigNonFinite: an infinite RMSNorm epsilon or RoPE base would give
// finite, wrong logits, so they are refused like zero and NaN, naming the
// format's key.
func TestConfigNonFinite(t *testing.T) {
	inf := math.Inf(1)
	for _, c := range []struct {
		eps, base float64
		want      string
	}{
		{inf, 10000, "norm eps +Inf: must be in (0, 1)"},
		{math.Inf(-1), 10000, "norm eps -Inf"},
		{math.NaN(), 10000, "norm eps NaN"},
		{0, 10000, "norm eps 0"},
		{1e-5, inf, "rope base +Inf: must be finite and at least 1"},
		// Finite but nonsense: a huge epsilon makes the output uniform
		// (perplexity = vocabulary size); a tiny one overflows rmsNorm's
		// float32 scale; a base below 1 reverses the frequencies.
		{1e300, 10000, "norm eps 1e+300: must be in (0, 1)"},
		{1, 10000, "norm eps 1: must be in (0, 1)"},
		{1e-300, 10000, "norm eps 1e-300: must be at least 1.1754943508222875e-38"},
		{1e-5, 0.5, "rope base 0.5: must be finite and at least 1"},
		{1e-5, 0, "rope base 0: must be finite and at least 1"},
		{1e-5, math.NaN(), "rope base NaN"},
		{1e-5, -1, "rope base -1"},
	} {
		cfg := synthConfig()
		cfg.NormEps, cfg.RopeBase = c.eps, c.base
		if err := cfg.validate(genericKeys); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eps %g, base %g: got %v, want %q", c.eps, c.base, err, c.want)
		}
	}
	for _, v := range [][2]float64{{1e-5, 10000}, {0x1p-126, 1}, {0.999, 1e300}} {
		cfg := synthConfig()
		cfg.NormEps, cfg.RopeBase = v[0], v[1]
		if err := cfg.validate(genericKeys); err != nil {
			t.Errorf("eps %g, base %g refused: %v", v[0], v[1], err)
		}
	}

	for _, c := range []struct {
		file *ggufBuilder
		want string
	}{
		{tinyGGUFWith(false, map[string]any{"llama.attention.layer_norm_rms_epsilon": float32(inf)}),
			"inf.gguf: llama.attention.layer_norm_rms_epsilon +Inf: must be in (0, 1)"},
		{tinyGGUF(false).add("llama.rope.freq_base", float32(inf)),
			"inf.gguf: llama.rope.freq_base +Inf: must be finite and at least 1"},
	} {
		b := c.file.bytes()
		if _, err := readGGUFModel(bytes.NewReader(b), int64(len(b)), "inf.gguf"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}
