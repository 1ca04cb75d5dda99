package model

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// tinyHFDir saves the synthetic 1-layer GGUF model as a Hugging Face
// directory, a checkpoint every fuzz worker can build without the data
// directory.
func tinyHFDir(f *testing.F) string {
	b := tinyGGUF(false).bytes()
	m, err := readGGUFModel(bytes.NewReader(b), int64(len(b)), "tiny.gguf")
	if err != nil {
		f.Fatal(err)
	}
	dir := filepath.Join(f.TempDir(), "hf")
	if err := SaveHF(m, dir); err != nil {
		f.Fatal(err)
	}
	return dir
}

func addConfigSeeds(f *testing.F, cfg []byte) {
	f.Add(cfg)
	for _, r := range [][2]string{
		{`"num_hidden_layers": 1`, `"num_hidden_layers": 1000000000`},
		{`"max_position_embeddings": 16`, `"max_position_embeddings": 100000000`},
		{`"intermediate_size": 6`, `"intermediate_size": 1073741824`},
		{`"vocab_size": 5`, `"vocab_size": 9223372036854775807`},
		{`"head_dim": 2`, `"head_dim": -2`},
		{`"rope_scaling": null`, `"rope_scaling": {"type": "linear"}`},
		{`"rope_scaling": null`, `"rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8}`},
		{`"rope_scaling": null`, `"rope_scaling": {"rope_type": "llama3", "factor": 1e308, "low_freq_factor": 1e-308, "high_freq_factor": 1e308, "original_max_position_embeddings": 2147483647}`},
		{`"model_type": "llama"`, `"model_type": "mistral", "sliding_window": 1`},
		{`"model_type": "llama"`, `"model_type": "qwen2", "use_sliding_window": false, "sliding_window": -1`},
		{`"model_type": "llama"`, `"model_type": "qwen3", "layer_types": ["full_attention"]`},
	} {
		f.Add(bytes.Replace(cfg, []byte(r[0]), []byte(r[1]), 1))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
}

// FuzzHFConfig checks that config.json parsing never panics and that what
// it accepts is a valid config whose size arithmetic cannot overflow.
func FuzzHFConfig(f *testing.F) {
	cfg, err := os.ReadFile(filepath.Join(tinyHFDir(f), "config.json"))
	if err != nil {
		f.Fatal(err)
	}
	addConfigSeeds(f, cfg)
	for i := range families {
		js, err := json.Marshal(familyConfig(&families[i]))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := parseHFConfig(raw, "fuzz/config.json")
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted an invalid config %+v: %v", c, err)
		}
		c.Params() // must not panic, whatever it returns
	})
}

// FuzzLoadHF drives LoadHF over a directory holding a fuzzed config.json
// next to a small valid safetensors file and tokenizer.model: whatever the
// config claims, the load either fails or gives a model the forward pass
// can run.
func FuzzLoadHF(f *testing.F) {
	src := tinyHFDir(f)
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		f.Fatal(err)
	}
	addConfigSeeds(f, cfg)
	f.Fuzz(func(t *testing.T, raw []byte) { loadFuzzedConfig(t, src, raw) })
}

// loadFuzzedConfig loads the weights and vocabulary of src with raw as
// config.json: the load fails, or the model's weights are consistent and
// its forward pass runs.
func loadFuzzedConfig(t *testing.T, src string, raw []byte) {
	dir := t.TempDir()
	for _, n := range []string{"model.safetensors", "tokenizer.model"} {
		if err := os.Symlink(filepath.Join(src, n), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadHF(dir)
	if err != nil {
		return
	}
	if err := m.checkWeights(); err != nil {
		t.Fatalf("accepted inconsistent weights: %v", err)
	}
	if _, err := m.Forward([]int{1, 3}, 1, min(2, m.Config.SeqLen)); err != nil && m.Config.SeqLen >= 2 {
		t.Fatalf("forward on an accepted model: %v", err)
	}
}

// FuzzLoadHFFamilies is FuzzLoadHF over the Qwen2 and Qwen3 test families'
// tensors (biases, q/k norms, head_dim ≠ hidden/heads), so that fuzzed
// configs reach the extra tensors' shape and finiteness checks: the load
// fails or the forward pass runs.
func FuzzLoadHFFamilies(f *testing.F) {
	var dirs []string
	for _, fam := range []*hfFamily{&families[3], &families[4]} {
		dirs = append(dirs, writeFamily(f, fam, familyWeights(fam, 1)))
	}
	// Each family's config, with the tensors that match it where there are
	// some (Qwen2's on dirs[0], Qwen3's on dirs[1]).
	for i := range families {
		js, err := json.Marshal(familyConfig(&families[i]))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(max(0, i-3)), js)
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		loadFuzzedConfig(t, dirs[int(which)%len(dirs)], raw)
	})
}
