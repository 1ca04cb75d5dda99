package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/safetensors"
)

// exportDTypes are the --dtype values export takes.
var exportDTypes = map[string]safetensors.DType{"f32": safetensors.F32, "f16": safetensors.F16}

// exportReport is the JSON shape of an export.
type exportReport struct {
	Model      string         `json:"model"`
	ModelFiles []data.FileRef `json:"model_files"`
	Format     string         `json:"format"`
	DType      string         `json:"dtype"`
	Out        string         `json:"out"`
	Bytes      int64          `json:"bytes"`
	Seconds    float64        `json:"seconds"`
}

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("export", stderr, &c)
	to := fs.String("to", "", "output format: gguf (for llama.cpp)")
	dtype := fs.String("dtype", "f32", "matrix dtype: f32 or f16 (norms stay f32)")
	out := fs.String("o", "", "output file, written whole or not at all (an existing file is replaced)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *to != "gguf" {
		return usagef("--to %q: want gguf", *to)
	}
	dt, ok := exportDTypes[*dtype]
	if !ok {
		return usagef("--dtype %q: want f32 or f16", *dtype)
	}
	if *out == "" {
		return usagef("-o is required")
	}
	start := time.Now()
	m, err := c.openModel(ctx, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := model.SaveGGUF(ctx, m, *out, dt); err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	rep := exportReport{Model: c.model, ModelFiles: c.modelFiles, Format: *to, DType: *dtype, Out: *out,
		Bytes: st.Size(), Seconds: time.Since(start).Seconds()}
	if c.json {
		return json.NewEncoder(stdout).Encode(rep)
	}
	return printTable(stdout, []string{"model", "format", "dtype", "out", "MB", "seconds"},
		[][]string{{rep.Model, rep.Format, rep.DType, rep.Out, fmt.Sprintf("%.1f", float64(rep.Bytes)/1e6), fmt.Sprintf("%.1f", rep.Seconds)}})
}
