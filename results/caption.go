package results

import (
	"fmt"
	"slices"
	"strings"
)

// Caption describes a table of metric over recs in one line: what the
// metric is, the models, the calibration and the evaluation windows, e.g.
// "WikiText-2 perplexity — stories260K, calibration wikitext2-valid
// 128×256, first 64 windows of 256 tokens". Settings that differ between
// runs are listed separated by "; ". Only records with metric count.
func Caption(recs []Record, metric string) string {
	recs = slices.DeleteFunc(slices.Clone(recs), func(r Record) bool {
		_, ok := r.Metrics[metric]
		return !ok
	})
	parts := []string{strings.Join(models(recs), ", ")}
	var calib, evals []string
	seeds := map[uint64]bool{}
	for _, r := range recs {
		if c := r.Calibration; c != nil {
			s := fmt.Sprintf("%s %d×%d", c.Source, c.NSamples, c.SeqLen)
			if c.Mode != "" && c.Mode != "contiguous" {
				s += " " + c.Mode
			}
			calib = appendNew(calib, s)
			seeds[c.Seed] = true
		}
		if e := evalWords(r, metric); e != "" {
			evals = appendNew(evals, e)
		}
	}
	if len(calib) > 0 {
		parts = append(parts, "calibration "+strings.Join(calib, "; "))
	}
	if len(seeds) > 1 {
		parts = append(parts, fmt.Sprintf("%d seeds", len(seeds)))
	}
	parts = append(parts, strings.Join(evals, "; "))
	return metricTitle(recs, metric) + " — " + strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), ", ")
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// metricTitle names a metric for readers.
func metricTitle(recs []Record, metric string) string {
	for _, r := range recs {
		for _, p := range r.PPL {
			if p.Metric == metric {
				return datasetTitle(p.Dataset) + " perplexity"
			}
		}
	}
	switch metric {
	case MetricKLD:
		return "KL divergence from the dense model (nats per token)"
	case MetricSameTop:
		return "top-1 agreement with the dense model (%)"
	case MetricPPLRatio:
		return "perplexity ratio to the dense model"
	case MetricMeanAccPaper7:
		return "mean zero-shot accuracy over the 7 paper tasks (%)"
	}
	if task, ok := strings.CutSuffix(metric, "_acc_norm"); ok {
		return task + " length-normalised accuracy (%)"
	}
	if task, ok := strings.CutSuffix(metric, "_acc"); ok {
		return task + " accuracy (%)"
	}
	if ds, _, ok := strings.Cut(metric, "_ppl"); ok {
		return datasetTitle(ds) + " perplexity"
	}
	if isFraction(metric) {
		return metric + " (%)"
	}
	return metric
}

func datasetTitle(ds string) string {
	switch ds {
	case "wikitext2":
		return "WikiText-2"
	case "c4":
		return "C4"
	case "ptb":
		return "PTB"
	}
	return ds
}

// windows says how much of a corpus was scored: "first N" when the cap
// stopped it, "all N" when the corpus ran out first.
func windows(n, max, seqlen int) string {
	which := "all"
	if max > 0 && n >= max {
		which = "first"
	}
	return fmt.Sprintf("%s %d windows of %d tokens", which, n, seqlen)
}

// evalWords describes the evaluation behind r's metric.
func evalWords(r Record, metric string) string {
	for _, p := range r.PPL {
		if p.Metric == metric {
			s := windows(p.Windows, p.MaxWindows, p.SeqLen)
			if p.Protocol == "llamacpp" {
				s += ", llama.cpp protocol"
			}
			return s
		}
	}
	switch metric {
	case MetricKLD, MetricSameTop, MetricPPLRatio:
		if k := r.KLD; k != nil {
			return datasetTitle(k.Dataset) + " " + windows(k.Windows, k.MaxWindows, k.SeqLen)
		}
		return ""
	case MetricMeanAccPaper7:
		limits := map[int]bool{}
		for _, t := range r.ZeroShot {
			limits[t.Limit] = true
		}
		if len(limits) == 1 {
			for l := range limits {
				if l > 0 {
					return fmt.Sprintf("at most %d documents per task", l)
				}
			}
			return "all documents"
		}
		return ""
	}
	task, ok := strings.CutSuffix(metric, "_acc_norm")
	if !ok {
		task, _ = strings.CutSuffix(metric, "_acc")
	}
	if t, ok := r.ZeroShot[task]; ok {
		if t.Limit > 0 && t.Docs >= t.Limit {
			return fmt.Sprintf("first %d documents", t.Docs)
		}
		return fmt.Sprintf("all %d documents", t.Docs)
	}
	return ""
}
