// Package results renders and stores what runs produce. For now it prints
// tables in the paper layout's plain style; the JSONL store, regression
// comparison and plots of the experiment harness will live here too.
package results
