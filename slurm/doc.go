// Package slurm runs an experiment config as a Slurm job array: one array
// task per shard (prunebench run --shard auto/N), then a merge job that
// joins the shards' results files and reports what is missing. Slurm is
// the scheduler; this package only writes its batch scripts and submits
// them with sbatch.
//
// # Files
//
// Everything lives in one directory (Sweep.Dir): the scripts array.sbatch
// and merge.sbatch; config.yaml, the config as it was when the scripts
// were written, which every task reads, so that a config edited while
// tasks wait in the queue cannot give two tasks different run lists; the
// shards' results files and heartbeats (NAME.shard-I-of-N.jsonl and
// .heartbeat, NAME the base name of the config's output); the merged
// results NAME.jsonl; and the jobs' logs in logs/.
//
// # Failures
//
// The merge job depends on the array with afterany, not afterok: with
// afterok one failed task would leave it pending forever (its dependency
// never satisfied) and the runs the other tasks finished unmerged. It
// merges whatever the shards recorded and then exits 1 (prunebench status)
// when runs are missing, so the merge job's state tells whether the sweep
// is complete. A failed or cancelled task is rerun alone with
// sbatch --array=K array.sbatch: its shard resumes, skipping the runs
// already recorded, and a new merge job (sbatch --dependency=afterany:J
// merge.sbatch, or prunebench merge by hand) completes the results.
package slurm
