package data

import (
	"strings"
	"testing"
)

// TestReadC4Budget: the shards of one calibration share one budget of
// decompressed bytes (each line charged with c4DocOverhead too), and
// reading stops at the line that exceeds it.
func TestReadC4Budget(t *testing.T) {
	line := `{"text":"abc"}` + "\n" // 15 bytes
	budget := int64(2*(15+c4DocOverhead) + 10)
	docs, err := readC4(strings.NewReader(line+line), "a.json", &budget)
	if err != nil || len(docs) != 2 || budget != 10 {
		t.Fatalf("first shard: %d docs, budget %d, %v", len(docs), budget, err)
	}
	_, err = readC4(strings.NewReader(line), "b.json", &budget)
	if want := "b.json: is larger than 1024 MiB, the limit for C4 calibration data (all shards together)"; err == nil || err.Error() != want {
		t.Errorf("second shard: got %v, want %q", err, want)
	}
}
