package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
)

// checkRefs fails unless refs are exactly the registered files rels, at
// their absolute paths in dir, with the registry's sha256 and size.
func checkRefs(t *testing.T, what, dir string, refs []data.FileRef, rels ...string) {
	t.Helper()
	if len(refs) != len(rels) {
		t.Fatalf("%s: %d files %v, want %v", what, len(refs), refs, rels)
	}
	for i, rel := range rels {
		e, ok := data.Lookup(rel)
		if !ok {
			t.Fatalf("%s is not registered", rel)
		}
		want := data.FileRef{Path: filepath.Join(dir, filepath.FromSlash(rel)), SHA256: e.SHA256, Size: e.Size}
		if refs[i] != want {
			t.Errorf("%s: file %d is %+v, want %+v", what, i, refs[i], want)
		}
	}
}

// TestProvenance checks that every report names the files its numbers
// depend on, with the path that was read and its sha256, and the method
// options that were run, defaults included.
func TestProvenance(t *testing.T) {
	dir, err := filepath.Abs(datatest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	model := []string{"models/stories260K/stories260K.bin", "models/stories260K/tok512.bin"}

	var pr pplReport
	o := mustRun(t, "ppl", "--data-dir", dir, "--model", "stories260K", "--max-windows", "1", "--json")
	decodeJSON(t, o.stdout, &pr, "model_files", "dataset_path", "dataset_sha256")
	checkRefs(t, "ppl model_files", dir, pr.ModelFiles, model...)
	text := data.FileRef{Path: pr.Path, SHA256: pr.SHA256}
	e, _ := data.Lookup("wikitext-2/wikitext-2-raw-v1.test.joined.txt")
	if want := (data.FileRef{Path: filepath.Join(dir, filepath.FromSlash(e.Rel)), SHA256: e.SHA256}); text != want {
		t.Errorf("ppl dataset %+v, want %+v", text, want)
	}

	rep := pruneJSON(t, dir, "--method", "admm1", "--sparsity", "0.5")
	checkRefs(t, "prune model_files", dir, rep.ModelFiles, model...)
	checkRefs(t, "prune calibration", dir, rep.Calib.Files, "wikitext-2/valid.txt")
	if got, want := rep.Method.Keys, []string{"rho", "iters", "percdamp", "per_output", "mask"}; !slices.Equal(got, want) {
		t.Errorf("admm1 options recorded %v: want every option of the method, defaults included: %v", got, want)
	}

	var zr zeroshotReport
	o = mustRun(t, "zeroshot", "--data-dir", dir, "--model", "stories260K", "--tasks", "rte", "--limit", "2", "--json")
	decodeJSON(t, o.stdout, &zr, "model_files", "tasks")
	checkRefs(t, "zeroshot model_files", dir, zr.ModelFiles, model...)
	checkRefs(t, "zeroshot rte", dir, zr.Tasks["rte"].Files, "tasks/rte/dev.tsv")
}
