// Package model holds the LLaMA family of architectures: its Config,
// float32 weights, the batched causal forward pass and the per-block
// forward used by the pruning pipeline, plus loaders for llama2.c, GGUF and
// Hugging Face safetensors checkpoints and writers for the Hugging Face
// layout and GGUF.
//
// Families (Config.Arch; config.json's model_type, GGUF's
// general.architecture). Each is a LLaMA block with the differences below;
// a config.json or GGUF key that would change the computation in another
// way is refused by name (rope_scaling types other than llama3, Qwen's
// use_sliding_window, a layer_types entry other than full_attention,
// partial_rotary_factor, attention_bias on LLaMA or Qwen3, mlp_bias, GGUF
// rope.scaling.type).
//
//   - LLaMA-1/2/3.x (llama): rope_theta; rope_scaling "llama3" (factor,
//     low_freq_factor, high_freq_factor, original_max_position_embeddings)
//     divides each frequency θ_i by a per-dimension factor
//     (RopeScaling.Freqs, transformers' _compute_llama3_parameters), which
//     GGUF stores as rope_freqs.weight (head_dim/2 float32) and Block.RopeFreqs
//     holds; tie_word_embeddings (3.2-1B/3B) shares the embedding.
//   - Mistral (mistral): sliding_window W lets position p attend to
//     p−W+1..p (transformers' mask), honoured by the attention kernel; null
//     is full attention.
//   - Qwen2/2.5 (qwen2): q, k and v add biases (Block.QBias, KBias, VBias).
//   - Qwen3 (qwen3): q and k are RMS-normalised per head (Block.QNorm,
//     KNorm, head_dim weights, eps rms_norm_eps) before RoPE; head_dim may
//     differ from hidden_size/num_attention_heads (128 when absent).
//
// Internally one RoPE convention is kept: Meta's adjacent pairs. Hugging Face
// Q/K rows are un-permuted on load and re-permuted on save (FORMATS.md §8), so
// every copy of a model gives the same logits; a q/k bias or q/k norm weight
// is permuted with the rows it belongs to. GGUF keeps LLaMA's rows in
// adjacent-pair order (llama.cpp's converter permutes them) but Qwen's in
// Hugging Face's (llama.cpp runs them with rotate-half "NEOX" RoPE), so those
// are un-permuted on load too.
//
// Vocabularies: SentencePiece tokenizer.model, llama2.c tokenizer.bin, and
// byte-level BPE tokenizer.json (LLaMA-3, Qwen, read with the
// tokenizer_config.json beside it), or GGUF's tokenizer.ggml.model "llama"
// and "gpt2". Model.AddBOS says whether a text starts with BOS, as
// llama.cpp decides it.
//
// Hostile input. Every count and shape a header declares (llama2.c, GGUF,
// config.json) is bounded by the file before anything is sized by it:
// Config.Validate caps every field at 2³¹−1; checkFits requires 9 tensors per
// declared block and 2 bytes of tensor data per declared parameter before a
// name list or weight is built; GGUF strings and arrays must fit in the bytes
// left, and arrays decode into typed slices; config.json is capped at 1 MB.
// Tensors must tile the data exactly: llama2.c files have exactly the
// declared size, safetensors buffers are covered without gap or overlap, and
// GGUF tensors sit each at the first aligned offset after the previous one,
// with only alignment padding after the last. The declared context length
// sizes nothing: the RoPE table covers the positions used (growing by
// doubling) and generation's KV cache the steps asked for.
//
// Streaming. Open (and OpenHF, OpenGGUF, OpenLlama2C) checks every
// tensor's name, shape and dtype against the header but reads only the
// embedding, classifier and the blocks' vectors (norms, biases, q/k norms,
// RoPE divisors: checked finite, q/k ones un-permuted); Model.Block reads a
// block's 7 linears (converted to float32, checked finite, HF q/k rows
// un-permuted) into a pooled buffer when it is used, with the vectors read
// at opening, and its release gives the buffer back.
// Forward, generation, the pruning pipeline and SaveHF go through Block,
// so a model whose float32 weights exceed memory holds one block at a
// time (per concurrent forward). CommitBlock keeps a pruned block in an
// unlinked temporary file (TMPDIR), which later reads use; ResetBlocks
// forgets them and Original reads the checkpoint whatever was committed.
// Load is Open followed by reading every block into Weights.Blocks.
//
// Provenance. Model.Files lists the absolute path of every file a loader
// read, for the caller to record with checksums.
//
// Saving. SaveHFContext writes through internal/atomicfile: a registered
// hidden temporary directory, each file synced, usual permissions less the
// umask, renamed into place only when complete, and removed (with any parent
// it created) on error or cancellation, which is checked between tensors.
// CheckSaveHF runs the same checks up front so that a command can refuse an
// unusable output before hours of work. config.json gets the family's
// model_type and architectures class, rope_scaling, Mistral's
// sliding_window and Qwen's use_sliding_window false. The vocabulary files
// are copied (tokenizer.json with its tokenizer_config.json); a SentencePiece
// vocabulary that came inside a GGUF file is written as tokenizer.model, a
// BPE one cannot be, and neither can rope_freqs.weight divisors without the
// rope_scaling parameters they came from.
//
// GGUF export (SaveGGUF, FORMATS.md §5 terms). A v3 file, alignment 32,
// F32 or F16 matrices with F32 vectors, tensors in the order token_embd,
// output_norm, output (absent when tied: llama.cpp then uses token_embd),
// rope_freqs, then per block its vectors and its 7 linears. Per family:
//
//	family      general.architecture  q/k rows        extra metadata                 extra tensors
//	LLaMA-1/2   llama                 adjacent pairs  —                              —
//	LLaMA-3.x   llama                 adjacent pairs  —                              rope_freqs.weight [hd/2] when scaled
//	Mistral     llama                 adjacent pairs  llama.attention.sliding_window —
//	Qwen2/2.5   qwen2                 rotate-half     —                              blk.N.attn_{q,k,v}.bias
//	Qwen3       qwen3                 rotate-half     —                              blk.N.attn_{q,k}_norm.weight [hd]
//
// Every architecture gets ARCH.context_length, embedding_length,
// block_count, feed_forward_length, rope.dimension_count (= head_dim),
// attention.head_count, attention.head_count_kv,
// attention.layer_norm_rms_epsilon and rope.freq_base, plus
// attention.key_length and value_length when head_dim·heads ≠ hidden size.
// llama.cpp's llama architecture applies no sliding window, so a Mistral
// file runs the same there only for contexts up to the window; prunebench
// reads the key back and honours it. The vocabulary: SentencePiece and
// llama2.c as tokenizer.ggml.model "llama" (tokens, scores, token_type,
// bos/eos/unknown ids, add_space_prefix); byte-level BPE as "gpt2" (tokens,
// token_type, merges, pre, bos/eos ids where the vocabulary has them),
// padded to the embedding's rows with "[PAD<id>]" tokens of type unused as
// llama.cpp's converter pads Qwen's; add_bos_token from Model.AddBOS
// either way.
package model
