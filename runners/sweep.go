package runners

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/prunebench/prunebench/results"
)

// Planned is a run with its ID, and whether the results file already has
// it.
type Planned struct {
	ID   string
	Spec RunSpec
	// Method is the resolved method: every option with its value.
	Method MethodSpec
	Done   bool
}

// SweepOptions configure Sweep.
type SweepOptions struct {
	// Out is the results file: read to skip the runs it holds, appended
	// one record per finished run.
	Out string
	// DataDir is the data directory of every run.
	DataDir string
	// Progress receives one line per run started and finished (with the
	// ETA) and the runs' own progress lines; nil = quiet.
	Progress io.Writer
	// Bar, when set, replaces those lines: it is told of each run as it
	// starts and ends (a terminal's progress bar).
	Bar ProgressBar
	// DryRun plans the runs without running any.
	DryRun bool
	// MaxMemory is every run's RunSpec.MaxMemory.
	MaxMemory uint64
	// Recorded are more results files whose runs count as done, read and
	// never written: a shard skips what any file of its sweep holds (the
	// other shards', of this or an earlier split, and the merged file), so
	// a run is recorded once however the sweep is split.
	Recorded []string
	// Heartbeat, when set, is told of every run as it starts and ends.
	Heartbeat *HeartbeatWriter
}

// ProgressBar shows a sweep's progress on a terminal.
type ProgressBar interface {
	Start(total, done int)
	Run(label string)
	Finish(label string)
}

// SweepResult is what Sweep did.
type SweepResult struct {
	Runs []Planned
	// Records are the records of the planned runs, found or made, in plan
	// order.
	Records []results.Record
	// Torn describes a torn last line found in the results file, if any.
	Torn string
	// Failed lists the runs that failed, with their errors; they have no
	// record.
	Failed []string
	Ran    int
	Reused int
}

// Sweep runs every spec not yet in the results file, model by model, and
// appends one record per finished run. The runs of a model share one
// session: the model is loaded once, the dense weights are restored
// between runs, the calibration windows and evaluation texts are read
// once. Every run of a model is planned (its inputs read, its ID computed)
// before the first of them runs. A cancelled ctx stops the run under way,
// which leaves no record: the file holds complete records only, and the
// next Sweep resumes with the missing runs. A run that fails otherwise is
// listed in Failed and the sweep goes on with the others.
func Sweep(ctx context.Context, specs []RunSpec, o SweepOptions) (*SweepResult, error) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	res := &SweepResult{}
	recorded := map[string]results.Record{}
	for i, path := range append([]string{o.Out}, o.Recorded...) {
		if path == "" {
			continue
		}
		recs, torn, err := results.Read(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			if i == 0 {
				res.Torn = torn // another file's torn line is its writer's to heal
			}
			for _, r := range recs {
				recorded[r.ID] = r
			}
		}
	}
	// Models in the order they first appear, each with its runs in order.
	var models []string
	byModel := map[string][]int{}
	for i, s := range specs {
		if _, ok := byModel[s.Model]; !ok {
			models = append(models, s.Model)
		}
		byModel[s.Model] = append(byModel[s.Model], i)
	}
	planned := make([]Planned, len(specs))
	ids := map[string]int{}
	total, done := 0, 0
	if o.Bar == nil && !o.DryRun {
		fmt.Fprintf(progress, "sweep: %d runs of %d models\n", len(specs), len(models))
	}
	start := time.Now()
	ran := 0
	// current is the session of the model under way, closed (its files and
	// spilled blocks released) before the next model's.
	var current *session
	defer func() { current.close() }()
	for _, name := range models {
		current.close()
		// A terminal's bar stands for the runs' own lines, which would
		// break it up.
		sessProgress := progress
		if o.Bar != nil {
			sessProgress = io.Discard
		}
		sess := newSession(o.DataDir, name, sessProgress)
		current = sess
		preps := make([]*prepared, 0, len(byModel[name]))
		for _, i := range byModel[name] {
			spec := specs[i]
			spec.DataDir, spec.MaxMemory = o.DataDir, o.MaxMemory
			spec.Progress = nil
			if o.Bar == nil {
				spec.Progress = progress
			}
			p, err := sess.prepare(ctx, spec)
			if err != nil {
				return nil, fmt.Errorf("run %d (%s): %w", i+1, runLabel(Planned{Spec: spec}), err)
			}
			if j, dup := ids[p.id]; dup {
				return nil, fmt.Errorf("runs %d and %d have the same settings (ID %s)", j+1, i+1, p.id)
			}
			ids[p.id] = i
			_, isDone := recorded[p.id]
			planned[i] = Planned{ID: p.id, Spec: specs[i], Method: p.method, Done: isDone}
			preps = append(preps, p)
			total++
			if isDone {
				done++
			}
		}
		if o.DryRun {
			continue
		}
		o.Heartbeat.running(nil, done+ran, len(res.Failed))
		if o.Bar != nil && name == models[0] {
			// The runs found recorded so far: the results files may hold
			// other runs too (other configs', other shards').
			o.Bar.Start(len(specs), done)
		}
		for k, p := range preps {
			i := byModel[name][k]
			if planned[i].Done {
				res.Reused++
				if o.Bar != nil && name != models[0] {
					o.Bar.Finish(runLabel(planned[i])) // the first model's are counted by Start
				}
				continue
			}
			label := runLabel(planned[i])
			o.Heartbeat.running(&HeartbeatRun{ID: p.id, Label: label, Since: time.Now().UTC()}, done+ran, len(res.Failed))
			if o.Bar != nil {
				o.Bar.Run(label)
			} else {
				fmt.Fprintf(progress, "run %s: %s\n", p.id, label)
			}
			runStart := time.Now()
			out, err := sess.execute(ctx, p)
			if err != nil && ctx.Err() == nil {
				// One run's failure (a perplexity that overflows, a full
				// disk under --out) should not cost the night's other
				// runs: they go on, and the failures are reported at the
				// end. The next run restores the dense weights.
				fmt.Fprintf(progress, "run %s: failed: %v\n", p.id, err)
				res.Failed = append(res.Failed, fmt.Sprintf("%s (%s): %v", p.id, label, err))
				o.Heartbeat.running(nil, done+ran, len(res.Failed))
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("run %s (%s): %w", p.id, label, err)
			}
			if o.Out != "" {
				if err := results.Append(o.Out, out.Record); err != nil {
					return nil, err
				}
			}
			recorded[p.id] = out.Record
			ran++
			res.Ran++
			o.Heartbeat.running(nil, done+ran, len(res.Failed))
			if o.Bar != nil {
				o.Bar.Finish(label)
			} else {
				fmt.Fprintf(progress, "run %s: done in %.1fs%s\n", p.id, time.Since(runStart).Seconds(), eta(start, ran, countLeft(planned, recorded, specs, i)))
			}
		}
	}
	res.Runs = planned
	if !o.DryRun {
		for _, p := range planned {
			if r, ok := recorded[p.ID]; ok {
				res.Records = append(res.Records, r)
			}
		}
	}
	return res, nil
}

// countLeft estimates the runs still to do after run i: those of later
// models are not planned yet, so every later spec counts unless known done.
func countLeft(planned []Planned, recorded map[string]results.Record, specs []RunSpec, i int) int {
	left := 0
	for j := range specs {
		if planned[j].ID == "" {
			left++
			continue
		}
		if _, ok := recorded[planned[j].ID]; !ok {
			left++
		}
	}
	return left
}

func eta(start time.Time, ran, left int) string {
	if ran == 0 || left == 0 {
		return ""
	}
	per := time.Since(start) / time.Duration(ran)
	return fmt.Sprintf("; %d left, about %v to go", left, (per * time.Duration(left)).Round(time.Second))
}

// runLabel names a run for people: model, method with the options given,
// pattern and seed.
func runLabel(p Planned) string {
	s := p.Spec
	if s.Method.Name == Dense {
		return s.Model + " dense"
	}
	label := fmt.Sprintf("%s %s %s", s.Model, s.Method, s.Pattern)
	if s.Calib.Seed != 0 {
		label += fmt.Sprintf(" seed=%d", s.Calib.Seed)
	}
	return label
}
