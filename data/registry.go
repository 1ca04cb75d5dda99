package data

import (
	"path/filepath"
)

// Entry describes one file of the shared data directory, as pinned in
// FORMATS.md §9 and SOURCES.md.
type Entry struct {
	Rel    string // path under the data directory, slash-separated
	Size   int64  // bytes
	SHA256 string // lower-case hex
	// URL is the pinned upstream blob (raw.githubusercontent.com at the
	// commit SOURCES.md names), for a later download feature.
	URL string
	// Transform is what turns the upstream bytes into the stored file:
	// "" (byte-identical) or TransformStripCR. UpstreamSize and
	// UpstreamSHA256 describe the upstream blob when Transform is set.
	Transform      string
	UpstreamSize   int64
	UpstreamSHA256 string
	// EvalOnly marks evaluation splits, which must never be used for
	// calibration (EVALUATION.md §2.2).
	EvalOnly bool
}

// TransformStripCR means every CR byte of the upstream file was removed.
const TransformStripCR = "strip-cr"

func raw(repo, commit, path string) string {
	return "https://raw.githubusercontent.com/" + repo + "/" + commit + "/" + path
}

const (
	llama2cCommit    = "350e04fe35433e6d2941dce5a1f53308f87058eb"
	llamacppCommit   = "c392e5094deaf2d1a7c18683214f007fad3fe42b"
	c64Commit        = "12b5bec82eb980362b8a7bfe86992a552a492481"
	examplesCommit   = "77f55b912142e11fcfdf5b530231fb9c52f181e8"
	nutcrackerCommit = "95fa9aa468d4d0e179e2e950cc68cd5058463503"
)

var registry = []Entry{
	{Rel: "models/stories260K/stories260K.bin", Size: 1056540,
		SHA256: "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696",
		URL:    raw("ytmytm/llama2.c64", c64Commit, "stories260K.bin")},
	{Rel: "models/stories260K/tok512.bin", Size: 6227,
		SHA256: "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312",
		URL:    raw("ytmytm/llama2.c64", c64Commit, "tok512.bin")},
	// The commit is only reachable through refs/pull/2177/head.
	{Rel: "models/llama-2-tiny-random/llama-2-tiny-random.gguf", Size: 1750560,
		SHA256: "81f226c62d28ed4a1a9b9fa080fcd9f0cc40e0f9d5680036583ff98fbcd035cb",
		URL:    raw("ollama/ollama", "8ce63ea9e6e3144896c31e9632b11892bc5e131f", "api/data/llama-2-tiny-random.gguf")},
	{Rel: "tokenizers/llama2/tokenizer.model", Size: 499723,
		SHA256: "9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347",
		URL:    raw("karpathy/llama2.c", llama2cCommit, "tokenizer.model")},
	{Rel: "tokenizers/llama2/tokenizer.bin", Size: 433869,
		SHA256: "50a52ef822ee9e83de5ce9d0be0a025a773d019437f58b5ff9dcafb063ece361",
		URL:    raw("karpathy/llama2.c", llama2cCommit, "tokenizer.bin")},
	{Rel: "tokenizers/llama2/vocab-test.inp", Size: 1944,
		SHA256: "ef7a25a263fba141f64a8a842ceb1c572cdb8e1313f592d974f7a06bbd3a4934",
		URL:    raw("ggerganov/llama.cpp", llamacppCommit, "models/ggml-vocab-llama-spm.gguf.inp")},
	{Rel: "tokenizers/llama2/vocab-test.out", Size: 2683,
		SHA256: "ea602819af9f9af53a7af285a284ee810e70a4a14a5972e4c891ccd683488af5",
		URL:    raw("ggerganov/llama.cpp", llamacppCommit, "models/ggml-vocab-llama-spm.gguf.out")},
	{Rel: "wikitext-2/wikitext-2-raw-v1.test.joined.txt", Size: 1296370,
		SHA256:         "696cca6b65a171b0a358a4be6732cdfdf2dd6164a32e20fd70e3c13fc4dfae83",
		URL:            raw("Deathnetworks/rotorquant", "c5be50f038e68e35740efdf4c6f5d65d61c2485b", "wikitext-test.txt"),
		Transform:      TransformStripCR,
		UpstreamSize:   1307975,
		UpstreamSHA256: "71fa921e51ba607b4364d8787d05f4513b41b33732dd3504ff1af8952c6e7e77",
		EvalOnly:       true},
	{Rel: "wikitext-2/wiki.test.raw", Size: 1290547,
		SHA256:   "4f3e427e4aff23acff917a8a51aeae21bf12832256e26914c8fc250dcef4103c",
		URL:      raw("Tylogi/TyloQuant", "7989d038b13ca737da11a95fb90e77ae059f33c0", "data/wikitext-2-raw/wiki.test.raw"),
		EvalOnly: true},
	{Rel: "wikitext-2/test.txt", Size: 1256449,
		SHA256:   "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
		URL:      raw("pytorch/examples", examplesCommit, "word_language_model/data/wikitext-2/test.txt"),
		EvalOnly: true},
	{Rel: "wikitext-2/valid.txt", Size: 1121681,
		SHA256: "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
		URL:    raw("pytorch/examples", examplesCommit, "word_language_model/data/wikitext-2/valid.txt")},
	{Rel: "tasks/boolq/dev.jsonl", Size: 2238726,
		SHA256:   "ebc29ea3808c5c611672384b3de56e83349fe38fc1fe876fd29b674d81d0a80a",
		URL:      raw("d-eremeev/BoolQ-Question-Answering", "72c347852e309ad087cf9f57517b769712a7a2a4", "data/dev.jsonl"),
		EvalOnly: true},
	{Rel: "tasks/rte/dev.tsv", Size: 87587,
		SHA256:   "e7e42b7ee79c36ebd780ebbdba525b939017da4ef9624c9e78b9ac2e69e36c28",
		URL:      raw("Ji-Yishan/MIEC-FYP", "250635701007f7f2dc00b63ce2cbc3dfe104b4e0", "RTE/dev.tsv"),
		EvalOnly: true},
	{Rel: "tasks/hellaswag/hellaswag_val_full.txt.bz2", Size: 1964544,
		SHA256:   "50b637899e4263c2bc456c2dc726c95d2c8cd8e2a552ea5bd7719ce3cb03fe5b",
		URL:      raw("klosax/hellaswag_text_data", "1105d370f8340eac3c63a91fd1fa58e8999f9505", "hellaswag_val_full.txt.bz2"),
		EvalOnly: true},
	{Rel: "tasks/winogrande/dev.json", Size: 312274,
		SHA256:   "a266953371448104a16c5a5fce65c915647f6f76bec814bb0cd43d46bafa1d72",
		URL:      raw("brucewlee/nutcracker-db", nutcrackerCommit, "db/winogrande/test.json"),
		EvalOnly: true},
	{Rel: "tasks/arc-easy/test.json", Size: 861962,
		SHA256:   "df89c8d6873908128ea39e0eb007bb1f0cc0e1c28f3877447da17b1c57372b4f",
		URL:      raw("brucewlee/nutcracker-db", nutcrackerCommit, "db/arc-easy/test.json"),
		EvalOnly: true},
	{Rel: "tasks/arc-challenge/test.json", Size: 485562,
		SHA256:   "eb44aa2cd4ed1954533d657a00f88f319f2f6a897dcee899fcce93282618b158",
		URL:      raw("brucewlee/nutcracker-db", nutcrackerCommit, "db/arc-challenge/test.json"),
		EvalOnly: true},
	{Rel: "tasks/openbookqa/test.json", Size: 138381,
		SHA256:   "f00e22432573149359a1307997d94fffc116da0edd8357cb7c623853dddd3223",
		URL:      raw("brucewlee/nutcracker-db", nutcrackerCommit, "db/openbookqa/test.json"),
		EvalOnly: true},
	{Rel: "tasks/piqa/valid.json", Size: 843960,
		SHA256:   "d6004885e20ebf2b5606cefd1447b8851dba3f3a954b7c80408456cb9d888610",
		URL:      raw("brucewlee/nutcracker-db", nutcrackerCommit, "db/piqa/test.json"),
		EvalOnly: true},
}

// Files returns the registry of shared data files, in FORMATS.md §9 order.
func Files() []Entry {
	return append([]Entry(nil), registry...)
}

// Lookup returns the registry entry for rel, a slash- or OS-separated path
// under the data directory.
func Lookup(rel string) (Entry, bool) {
	rel = filepath.ToSlash(filepath.Clean(rel))
	for _, e := range registry {
		if e.Rel == rel {
			return e, true
		}
	}
	return Entry{}, false
}
