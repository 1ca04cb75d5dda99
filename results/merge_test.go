package results

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sameJSON compares records as a results file holds them (a record read
// back has empty lists where one made in memory has nil ones).
func sameJSON(t *testing.T, a, b []Record) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

func TestMerge(t *testing.T) {
	withHost := func(r Record, host string) Record {
		r.Provenance.Host = host
		return r
	}
	a := withHost(rec("a", "wanda", map[string]float64{"wikitext2_ppl": 183.56}), "node1")
	b := withHost(rec("b", "wanda", map[string]float64{"wikitext2_ppl": 312.37}), "node2")
	c := withHost(rec("c", "dense", map[string]float64{"wikitext2_ppl": 94.03, "kld": 0}), "node3")
	aAgain := withHost(a, "node9") // the same run recorded again elsewhere
	aOther := withHost(rec("a", "wanda", map[string]float64{"wikitext2_ppl": 183.57}), "node9")
	cLess := rec("c", "dense", map[string]float64{"wikitext2_ppl": 94.03})
	for _, tc := range []struct {
		name  string
		parts [][]Record
		torn  []bool // parts ending in a torn line
		want  []Record
		err   string
		nTorn int
	}{
		{name: "disjoint", parts: [][]Record{{a}, {b, c}}, want: []Record{a, b, c}},
		{name: "overlapping identical", parts: [][]Record{{a, b}, {aAgain, c}, {b}}, want: []Record{a, b, c}},
		{name: "empty part", parts: [][]Record{{}, {a}}, want: []Record{a}},
		{name: "torn tail", parts: [][]Record{{a}, {b}}, torn: []bool{true, false}, want: []Record{a, b}, nTorn: 1},
		{name: "conflict", parts: [][]Record{{a, b}, {c, aOther}}, err: "run a is recorded with different metrics in P0 and P1 (wikitext2_ppl: 183.56 against 183.57)"},
		{name: "metric missing", parts: [][]Record{{c}, {cLess}}, err: "run c is recorded with different metrics in P0 and P1 (kld: 0 against none)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for i, part := range tc.parts {
				p := filepath.Join(dir, "part"+string(rune('0'+i))+".jsonl")
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, r := range part {
					if err := Append(p, r); err != nil {
						t.Fatal(err)
					}
				}
				if i < len(tc.torn) && tc.torn[i] {
					f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					f.WriteString(`{"id":"z","met`)
					f.Close()
				}
				paths = append(paths, p)
			}
			got, torn, err := Merge(paths)
			if tc.err != "" {
				want := tc.err
				for i, p := range paths {
					want = strings.ReplaceAll(want, "P"+string(rune('0'+i)), p)
				}
				if err == nil || err.Error() != want {
					t.Fatalf("Merge: %v, want error %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(torn) != tc.nTorn {
				t.Errorf("torn %q, want %d", torn, tc.nTorn)
			}
			if !sameJSON(t, got, tc.want) {
				t.Fatalf("Merge = %+v, want %+v", got, tc.want)
			}
			// Written and read back, the records are the same, provenance
			// included.
			out := filepath.Join(dir, "new", "merged.jsonl")
			if err := Write(out, got); err != nil {
				t.Fatal(err)
			}
			back, _, err := Read(out)
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, back, tc.want) {
				t.Errorf("read back %+v, want %+v", back, tc.want)
			}
		})
	}
}
