package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"

	"github.com/prunebench/prunebench/model"
)

func runGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("generate", stderr, &c)
	prompt := fs.String("prompt", "", "prompt text (default: start from BOS alone)")
	steps := fs.Int("steps", 256, "positions to run, BOS and prompt included (run.c semantics)")
	temp := fs.Float64("temperature", 0, "0 = greedy; > 0 samples from softmax(logits/temperature)")
	seed := fs.Uint64("seed", 0, "sampling seed (temperature > 0)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *steps <= 0 {
		return usagef("--steps %d: must be positive", *steps)
	}
	if !(*temp >= 0) || math.IsInf(*temp, 1) {
		return usagef("--temperature %g: must be a finite number ≥ 0", *temp)
	}
	if *temp > 0 && *seed == 0 {
		return usagef("--seed 0: sampling (--temperature > 0) needs a non-zero seed, as run.c's xorshift generator stays at 0")
	}
	m, err := c.openModel(ctx, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	if *steps > m.Config.SeqLen {
		return fmt.Errorf("--steps %d exceeds the model's context length %d", *steps, m.Config.SeqLen)
	}
	out := bufio.NewWriter(stdout)
	err = model.Generate(ctx, m, *prompt, *steps, *temp, *seed, func(piece string) { out.WriteString(piece) })
	if err != nil {
		return err
	}
	out.WriteString("\n")
	return out.Flush()
}
