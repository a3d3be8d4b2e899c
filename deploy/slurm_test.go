package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ciSweep is the sweep the Slurm tests run: 320 points of about 50 ms
// each on one core, so that an array task of 80 points runs for seconds
// and can be caught running and requeued. The points name the page engine
// (sweeps run auto by default, whose fluid pre-copy points take well under
// a millisecond) and a 2 GiB guest: with 256 MiB, points took 4 ms and a
// task ran its 80 points in 0.3 s, before its requeue reached it.
const ciSweep = `name: slurm-ci
base:
  vm: {memory: 2GiB}
  workload:
    generator: {kind: uniform, dirty_rate: 64000, working_set: 1GiB, duration: 10s}
  model: {engine: page}
grid:
  network.bandwidth: [200Mbit, 300Mbit, 500Mbit, 1Gbit]
  model.name: [precopy, postcopy]
repeat: 40
`

// failSweep is a small sweep for the failing shard: 40 points.
const failSweep = `name: slurm-ci-fail
base:
  vm: {memory: 64MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 4000, working_set: 32MiB, duration: 2s}
grid:
  network.bandwidth: [200Mbit, 1Gbit]
  model.name: [precopy, postcopy]
repeat: 10
`

// badSweep has a point that does not load.
const badSweep = `name: slurm-ci-bad
base:
  vm: {memory: 64MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 4000, working_set: 32MiB, duration: 2s}
grid:
  network.bandwidth: [200Mbit, fast]
`

// outputs are the files that a merge and an unsharded run write alike.
var outputs = []string{"sweep.json", "results.jsonl", "results.csv", "results.parquet"}

// arrayOpts are sbatch options for the array on the CI node (2 CPUs): one
// CPU per task, so that two tasks run at once, and a small memory request.
var arrayOpts = []string{"--", "--cpus-per-task=1", "--mem=256M", "--time=10"}

// TestSlurm runs submit-slurm.sh and slurm-array.sh on the Slurm cluster
// that sinfo reaches, as a user would, with relative paths from a working
// directory of their own, and checks what the jobs did: a job array of 4
// tasks whose merge equals an unsharded run byte for byte; a task that is
// requeued while running and resumes from its journal, with the same
// merge; a failing shard whose merge never runs, reported by shard; a
// sweep that does not load, refused before anything is queued.
func TestSlurm(t *testing.T) {
	if os.Getenv("MIGSIM_SLURM") != "1" {
		t.Skip("MIGSIM_SLURM is not 1: this test submits jobs to a Slurm cluster (slurm-ci.sh starts one on this host and sets it)")
	}
	for _, c := range []string{"sbatch", "squeue", "scontrol", "scancel", "sinfo"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("MIGSIM_SLURM=1 but %v", err)
		}
	}
	s := newSlurmRun(t)
	s.write("sweep.yaml", ciSweep)
	if _, stderr, err := s.run(s.bin, "sweep", "sweep.yaml", "--out", "ref", "--workers", "2", "--progress", "none"); err != nil {
		t.Fatalf("the unsharded reference run: %v\n%s", err, stderr)
	}

	t.Run("array and merge", func(t *testing.T) {
		stdout, stderr, err := s.run("bash", append([]string{s.script, "--wait", "sweep.yaml", "4", "out"}, arrayOpts...)...)
		if err != nil {
			t.Fatalf("submit-slurm.sh --wait: %v\n%s%s", err, stdout, stderr)
		}
		array, merge := s.jobIDs(t, stdout)
		var lastEnd string
		for k := 1; k <= 4; k++ {
			task := s.job(t, fmt.Sprintf("%s_%d", array, k))
			if task["JobState"] != "COMPLETED" || task["ExitCode"] != "0:0" || task["Restarts"] != "0" {
				t.Errorf("task %d: JobState=%s ExitCode=%s Restarts=%s, want COMPLETED 0:0 0", k, task["JobState"], task["ExitCode"], task["Restarts"])
			}
			lastEnd = max(lastEnd, task["EndTime"]) // ISO 8601 times sort as text
			log := s.read(t, fmt.Sprintf("out/logs/sweep-%s_%d.log", array, k))
			// The job ran the MIGSIM of the submitting shell, in its
			// working directory, as task k of the array, on shard k.
			if want := fmt.Sprintf("wrapper: array %s task %d in %s\n", array, k, s.dir); !strings.Contains(log, want) {
				t.Errorf("task %d's log lacks %q (environment or working directory not passed on):\n%s", k, want, log)
			}
			if want := fmt.Sprintf("shard %d/4, 80 points (80 run, 0 resumed)", k); !strings.Contains(log, want) {
				t.Errorf("task %d's log lacks %q:\n%s", k, want, log)
			}
		}
		m := s.job(t, merge)
		if m["JobState"] != "COMPLETED" {
			t.Errorf("merge job %s: JobState=%s, want COMPLETED", merge, m["JobState"])
		}
		if m["StartTime"] < lastEnd {
			t.Errorf("merge job started at %s, before the last task ended (%s): afterok not honoured", m["StartTime"], lastEnd)
		}
		s.sameOutputs(t, "ref", "out/merged")
	})

	t.Run("requeue", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", append([]string{s.script, "--wait", "sweep.yaml", "4", "pre"}, arrayOpts...)...)
		cmd.Dir, cmd.Env = s.dir, s.env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stdout := bufio.NewReader(pipe)
		first, err := stdout.ReadString('\n')
		if err != nil {
			t.Fatalf("submit-slurm.sh printed no job IDs: %v\n%s", err, stderr.String())
		}
		array, _ := s.jobIDs(t, first)
		task := array + "_2"

		// Requeue task 2 once it is running and has journalled 5 points.
		journal := filepath.Join(s.dir, "pre", "shard-2", "results.jsonl")
		for {
			state, _ := exec.Command("squeue", "-h", "-j", task, "-o", "%T").Output()
			n := countLines(journal)
			if n >= 80 {
				t.Fatalf("task 2 finished before it could be requeued: make ciSweep's points slower")
			}
			if strings.TrimSpace(string(state)) == "RUNNING" && n >= 5 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("task 2 did not run 5 points: %v\n%s", ctx.Err(), stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if out, err := exec.Command("scontrol", "requeue", task).CombinedOutput(); err != nil {
			t.Fatalf("scontrol requeue %s: %v\n%s", task, err, out)
		}
		rest, _ := io.ReadAll(stdout)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("submit-slurm.sh --wait: %v\n%s%s%s", err, first, rest, stderr.String())
		}

		if j := s.job(t, task); j["Restarts"] != "1" || j["JobState"] != "COMPLETED" {
			t.Errorf("task 2: Restarts=%s JobState=%s, want 1 COMPLETED", j["Restarts"], j["JobState"])
		}
		// The log holds both runs: the first stopped on SIGTERM with its
		// finished points in the journal, the second ran only the others.
		log := s.read(t, fmt.Sprintf("pre/logs/sweep-%s.log", task))
		if !strings.Contains(log, "DUE TO JOB REQUEUE") || strings.Count(log, "wrapper: array") != 2 {
			t.Fatalf("task 2's log does not show a requeue and two starts:\n%s", log)
		}
		stopped := regexp.MustCompile(`sweep interrupted after (\d+) of 80 points \((\d+) in this run\)`).FindStringSubmatch(log)
		resumed := regexp.MustCompile(`shard 2/4, 80 points \((\d+) run, (\d+) resumed\)`).FindStringSubmatch(log)
		if stopped == nil || resumed == nil {
			t.Fatalf("task 2's log lacks the interrupted run's or the resumed run's summary (SIGTERM did not reach migsim?):\n%s", log)
		}
		done, ran, kept := atoi(stopped[1]), atoi(resumed[1]), atoi(resumed[2])
		if done < 5 || kept != done || ran != 80-done {
			t.Errorf("the first run finished %d points, the second resumed %d and ran %d: want at least 5, the same %d, and %d", done, kept, ran, done, 80-done)
		}
		t.Logf("task 2 requeued after %d of its 80 points; resumed %d, ran %d", done, kept, ran)
		s.sameOutputs(t, "ref", "pre/merged")
	})

	t.Run("failing shard", func(t *testing.T) {
		// Shard 3's directory holds a result line whose point ID is not
		// the sweep's: its task stops on it and fails.
		s.write("fail.yaml", failSweep)
		if _, stderr, err := s.run(s.bin, "sweep", "fail.yaml", "--shard", "3/4", "--out", "fail/shard-3", "--progress", "none"); err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		journal := filepath.Join(s.dir, "fail", "shard-3", "results.jsonl")
		data, err := os.ReadFile(journal)
		if err != nil {
			t.Fatal(err)
		}
		bad := regexp.MustCompile(`"id":"[0-9a-f]+"`).ReplaceAll(data[:bytes.IndexByte(data, '\n')], []byte(`"id":"not-a-point-id"`))
		if err := os.WriteFile(journal, append(bad, data[bytes.IndexByte(data, '\n'):]...), 0o644); err != nil {
			t.Fatal(err)
		}

		stdout, stderr, err := s.run("bash", append([]string{s.script, "--wait", "fail.yaml", "4", "fail"}, arrayOpts...)...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("submit-slurm.sh --wait with a failing shard: %v, want exit status 1\n%s%s", err, stdout, stderr)
		}
		array, merge := s.jobIDs(t, stdout)
		for _, want := range []string{
			fmt.Sprintf("shard 3/4 (job %s_3) FAILED, exit code 1:0; log fail/logs/sweep-%s_3.log:", array, array),
			"fail/shard-3/results.jsonl:1: point 2 has ID not-a-point-id",
			fmt.Sprintf("the merge job %s did not run (CANCELLED)", merge),
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("the report lacks %q:\n%s", want, stderr)
			}
		}
		if regexp.MustCompile(`shard [124]/4 \(`).MatchString(stderr) {
			t.Errorf("the report names a shard that succeeded:\n%s", stderr)
		}
		for k, want := range []string{"COMPLETED", "COMPLETED", "FAILED", "COMPLETED"} {
			if got := s.job(t, fmt.Sprintf("%s_%d", array, k+1))["JobState"]; got != want {
				t.Errorf("task %d: JobState=%s, want %s", k+1, got, want)
			}
		}
		if m := s.job(t, merge); m["JobState"] != "CANCELLED" || m["Reason"] != "DependencyNeverSatisfied" {
			t.Errorf("merge job: JobState=%s Reason=%s, want CANCELLED DependencyNeverSatisfied", m["JobState"], m["Reason"])
		}
		if _, err := os.Stat(filepath.Join(s.dir, "fail", "merged")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("fail/merged exists (%v): the merge ran", err)
		}
	})

	t.Run("sweep that does not load", func(t *testing.T) {
		s.write("bad.yaml", badSweep)
		before := s.jobCount(t)
		stdout, stderr, err := s.run("bash", s.script, "bad.yaml", "4", "bad")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("submit-slurm.sh with a bad sweep: %v, want exit status 1\n%s%s", err, stdout, stderr)
		}
		for _, want := range []string{"bad.yaml:7", "network.bandwidth", "bad.yaml does not load (above); nothing was submitted"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		if after := s.jobCount(t); after != before {
			t.Errorf("the controller knows %d jobs, %d before: something was submitted", after, before)
		}
	})
}

// TestSubmitSlurmUsage checks submit-slurm.sh's command line, which needs
// no cluster.
func TestSubmitSlurmUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"sweep.yaml"},
		{"sweep.yaml", "0"},
		{"sweep.yaml", "four"},
		{"sweep.yaml", "4", "out", "extra"},
		{"--resume", "sweep.yaml", "4"},
	} {
		cmd := exec.Command("bash", append([]string{"submit-slurm.sh"}, args...)...)
		cmd.Env = append(os.Environ(), "MIGSIM=/nonexistent/migsim")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "usage: submit-slurm.sh") {
			t.Errorf("submit-slurm.sh %q: %v, want exit status 2 and the usage\n%s", args, err, out)
		}
	}
}

// slurmRun is a working directory for submissions, with the migsim the
// jobs run and the environment the scripts get.
type slurmRun struct {
	t      *testing.T
	dir    string   // the submissions' working directory
	bin    string   // migsim
	script string   // submit-slurm.sh
	env    []string // the scripts' environment
}

func newSlurmRun(t *testing.T) *slurmRun {
	dir := t.TempDir()
	if shared := os.Getenv("MIGSIM_SLURM_DIR"); shared != "" {
		// On a cluster of several nodes: a directory they all see.
		var err error
		if dir, err = os.MkdirTemp(shared, "migsim-slurm-test-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("submit-slurm.sh")
	if err != nil {
		t.Fatal(err)
	}
	s := &slurmRun{t: t, dir: dir, script: script, bin: os.Getenv("MIGSIM")}
	if s.bin == "" {
		s.bin = filepath.Join(dir, "migsim")
		build := exec.Command("go", "build", "-o", s.bin, "./cmd/migsim")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	} else if s.bin, err = filepath.Abs(s.bin); err != nil {
		t.Fatal(err)
	}
	// The jobs run this wrapper, found through MIGSIM alone: its line in a
	// task's log shows the environment and the working directory reached
	// the job.
	wrapper := s.write("migsim-wrapper", fmt.Sprintf("#!/bin/sh\necho \"wrapper: array ${SLURM_ARRAY_JOB_ID:-none} task ${SLURM_ARRAY_TASK_ID:-none} in $(pwd -P)\" >&2\nexec %q \"$@\"\n", s.bin))
	if err := os.Chmod(wrapper, 0o755); err != nil {
		t.Fatal(err)
	}
	s.env = append(os.Environ(), "MIGSIM="+wrapper, "MIGSIM_SLURM_POLL=1")
	t.Cleanup(s.cancelJobs)
	return s
}

// write writes a file into the working directory and returns its path.
func (s *slurmRun) write(name, text string) string {
	path := filepath.Join(s.dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return path
}

func (s *slurmRun) read(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// run runs a command in the working directory, for at most 4 minutes.
func (s *slurmRun) run(name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = s.dir, s.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

var submitted = regexp.MustCompile(`submitted job array (\d+) \(\d+ shards\) and merge job (\d+)`)

// jobIDs returns the job IDs that submit-slurm.sh printed.
func (s *slurmRun) jobIDs(t *testing.T, stdout string) (array, merge string) {
	t.Helper()
	m := submitted.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("submit-slurm.sh did not print its job IDs:\n%s", stdout)
	}
	return m[1], m[2]
}

var jobField = regexp.MustCompile(`(?:^| )(\w+)=(\S*)`)

// job returns the fields of one job (an array task as ID_K) as the
// controller reports them.
func (s *slurmRun) job(t *testing.T, id string) map[string]string {
	t.Helper()
	out, err := exec.Command("scontrol", "-o", "show", "job", id).Output()
	if err != nil {
		t.Fatalf("scontrol show job %s: %v", id, err)
	}
	f := map[string]string{}
	for _, m := range jobField.FindAllStringSubmatch(strings.TrimSpace(string(out)), -1) {
		if _, ok := f[m[1]]; !ok {
			f[m[1]] = m[2]
		}
	}
	return f
}

// jobCount returns the number of jobs the controller knows, finished ones
// included.
func (s *slurmRun) jobCount(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("squeue", "-h", "-t", "all", "-o", "%i").Output()
	if err != nil {
		t.Fatalf("squeue: %v", err)
	}
	return strings.Count(string(out), "\n")
}

// cancelJobs cancels whatever a failed test left queued from this run.
func (s *slurmRun) cancelJobs() {
	out, err := exec.Command("squeue", "-h", "-o", "%A %Z").Output()
	if err != nil {
		return
	}
	for line := range strings.Lines(string(out)) {
		if id, workdir, ok := strings.Cut(strings.TrimSpace(line), " "); ok && workdir == s.dir {
			_ = exec.Command("scancel", id).Run()
		}
	}
}

// sameOutputs fails unless the sweep outputs in directories a and b are
// equal, byte for byte.
func (s *slurmRun) sameOutputs(t *testing.T, a, b string) {
	t.Helper()
	for _, f := range outputs {
		x, y := s.read(t, filepath.Join(a, f)), s.read(t, filepath.Join(b, f))
		if x != y {
			t.Errorf("%s differs between %s and %s (%d and %d bytes)", f, a, b, len(x), len(y))
		}
	}
}

func countLines(path string) int {
	data, _ := os.ReadFile(path)
	return bytes.Count(data, []byte("\n"))
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err) // only called on \d+ matches
	}
	return n
}
