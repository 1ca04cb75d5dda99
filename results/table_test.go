package results

import (
	"bytes"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	var buf bytes.Buffer
	if err := Table(&buf, []string{"method", "ppl"}, [][]string{{"wanda", "183.56"}, {"admm-grad", "168.62"}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	// Border, header, separator, two rows, border.
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6:\n%s", len(lines), buf.String())
	}
	for i, want := range [][]string{{"METHOD", "PPL"}, {"wanda", "183.56"}, {"admm-grad", "168.62"}} {
		line := lines[[]int{1, 3, 4}[i]]
		for _, cell := range want {
			if !strings.Contains(line, cell) {
				t.Errorf("line %q lacks %q", line, cell)
			}
		}
	}
}
