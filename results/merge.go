package results

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/prunebench/prunebench/internal/atomicfile"
)

// Merge joins results files (the parts of a sharded sweep) by run ID, in
// the order given, each record as it is, provenance included: which
// machine and code made it stays readable after the merge. A run found in
// several parts with the same metrics is kept once, from the first part;
// with different metrics it is an error naming the run and both files,
// since a table could not say which numbers are the run's. torn lists the
// torn last lines left out (Read), for warnings.
func Merge(paths []string) (recs []Record, torn []string, err error) {
	from := map[string]int{} // run ID → index in recs
	fromPath := map[string]string{}
	for _, p := range paths {
		part, t, err := Read(p)
		if err != nil {
			return nil, nil, err
		}
		if t != "" {
			torn = append(torn, t)
		}
		for _, r := range part {
			i, dup := from[r.ID]
			if !dup {
				from[r.ID], fromPath[r.ID] = len(recs), p
				recs = append(recs, r)
				continue
			}
			if !maps.Equal(recs[i].Metrics, r.Metrics) {
				return nil, nil, fmt.Errorf("run %s is recorded with different metrics in %s and %s (%s)",
					r.ID, fromPath[r.ID], p, metricsDiff(recs[i].Metrics, r.Metrics))
			}
		}
	}
	return recs, torn, nil
}

// metricsDiff names the first metric, in name order, on which a and b
// differ.
func metricsDiff(a, b map[string]float64) string {
	union := maps.Clone(a)
	maps.Copy(union, b)
	for _, k := range slices.Sorted(maps.Keys(union)) {
		va, ina := a[k]
		vb, inb := b[k]
		if ina != inb || va != vb {
			return fmt.Sprintf("%s: %s against %s", k, metricText(va, ina), metricText(vb, inb))
		}
	}
	return "no metric"
}

func metricText(v float64, ok bool) string {
	if !ok {
		return "none"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Write replaces the results file at path with recs, one line each as
// Append writes them, all at once: the file appears complete or not at all.
func Write(path string, recs []Record) error {
	var buf []byte
	for _, r := range recs {
		line, err := encodeLine(path, r)
		if err != nil {
			return err
		}
		buf = append(buf, line...)
	}
	made, err := mkdirs(filepath.Dir(path))
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, buf); err != nil {
		return err
	}
	// The directories made must reach the disk too, as Append's do.
	for _, d := range made {
		if err := atomicfile.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}
