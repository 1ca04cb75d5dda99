package safetensors

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/prunebench/prunebench/internal/jsonerr"
	"github.com/prunebench/prunebench/internal/smallfile"
)

// Set is a sharded checkpoint opened through its index: one name → tensor
// table over several files.
type Set struct {
	index string
	files []*File
	where map[string]*File
	names []string
}

// OpenIndex reads model.safetensors.index.json at path and opens every shard
// it names (relative to the index's directory). The weight map must agree
// exactly with the shards' headers. The index is held to MaxHeaderSize, like
// the headers whose names it lists.
func OpenIndex(path string) (*Set, error) {
	raw, err := smallfile.Read(path, MaxHeaderSize)
	if err != nil {
		return nil, fmt.Errorf("safetensors index: %w", err)
	}
	var idx Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", path, jsonerr.Describe(err))
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: weight_map is missing or empty", path)
	}
	s := &Set{index: path, where: map[string]*File{}}
	byShard := map[string]*File{}
	var shards []string
	for _, shard := range idx.WeightMap {
		if _, ok := byShard[shard]; !ok {
			byShard[shard] = nil
			shards = append(shards, shard)
		}
	}
	sort.Strings(shards)
	for _, shard := range shards {
		// The index is data: do not let it point outside its directory.
		if shard == "" || filepath.Base(shard) != shard || shard == "." || shard == ".." {
			s.Close()
			return nil, fmt.Errorf("%s: shard name %q must be a plain file name", path, shard)
		}
		f, err := Open(filepath.Join(filepath.Dir(path), shard))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		byShard[shard] = f
		s.files = append(s.files, f)
	}
	for name, shard := range idx.WeightMap {
		if _, ok := byShard[shard].Info(name); !ok {
			s.Close()
			return nil, fmt.Errorf("%s: weight_map puts %q in %s, which does not hold it", path, name, shard)
		}
		s.where[name] = byShard[shard]
	}
	for _, f := range s.files {
		for _, name := range f.names {
			if s.where[name] != f {
				s.Close()
				return nil, fmt.Errorf("%s: %s holds tensor %q that weight_map does not assign to it", path, f.path, name)
			}
		}
	}
	for name := range s.where {
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	return s, nil
}

// Close closes every shard.
func (s *Set) Close() error {
	var first error
	for _, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Paths are the index file followed by the shards, in name order.
func (s *Set) Paths() []string {
	out := []string{s.index}
	for _, f := range s.files {
		out = append(out, f.path)
	}
	return out
}

// Names lists all tensors in name order.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// Info describes a tensor.
func (s *Set) Info(name string) (TensorInfo, bool) {
	f, ok := s.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// Float32 reads a tensor as float32 from whichever shard holds it.
func (s *Set) Float32(name string) ([]float32, []int, error) {
	f, ok := s.where[name]
	if !ok {
		return nil, nil, fmt.Errorf("%s: no tensor %q", s.index, name)
	}
	return f.Float32(name)
}

// Float32Into reads a tensor into dst (exactly its elements) from whichever
// shard holds it.
func (s *Set) Float32Into(name string, dst []float32) error {
	f, ok := s.where[name]
	if !ok {
		return fmt.Errorf("%s: no tensor %q", s.index, name)
	}
	return f.Float32Into(name, dst)
}
