package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const clusterDir = "../../deploy/"

// echoMigsim puts a fake migsim on PATH that prints its arguments, one a
// line, and returns the PATH to use.
func echoMigsim(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	writeFile(t, bin, "migsim", "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n")
	if err := os.Chmod(filepath.Join(bin, "migsim"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin + string(os.PathListSeparator) + os.Getenv("PATH")
}

// argsOf runs a shell command and returns the arguments the fake migsim
// was given.
func argsOf(t *testing.T, cmd *exec.Cmd) []string {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// TestClusterExamples runs the shard commands that the Slurm script and
// the Kubernetes Indexed Job compute for each task, as the tasks would,
// then the merge: the result equals an unsharded run.
func TestClusterExamples(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	spec := writeFile(t, dir, "s.yaml", strings.Replace(killSweep, "repeat: 20", "repeat: 2", 1))
	ref := filepath.Join(dir, "ref")
	if _, stderr, code := migsim(t, "sweep", spec, "-o", ref, "--progress", "none"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	path := echoMigsim(t)

	// Slurm: an array of 3 tasks numbered from 0.
	slurmOut := filepath.Join(dir, "slurm")
	for task := range 3 {
		cmd := exec.Command("bash", clusterDir+"slurm-array.sh", spec, slurmOut)
		cmd.Env = append(os.Environ(), "PATH="+path, "SLURM_ARRAY_TASK_ID="+strconv.Itoa(task),
			"SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_COUNT=3", "SLURM_CPUS_PER_TASK=2")
		args := argsOf(t, cmd)
		if want := fmt.Sprintf("%d/3", task+1); !strings.Contains(strings.Join(args, " "), "--shard "+want) {
			t.Errorf("task %d runs %v, want shard %s", task, args, want)
		}
		if _, stderr, code := migsim(t, args...); code != exitOK {
			t.Fatalf("task %d: %v: exit %d: %s", task, args, code, stderr)
		}
	}
	merged := filepath.Join(dir, "slurm-merged")
	if _, stderr, code := migsim(t, "merge", "-o", merged, slurmOut+"/shard-1", slurmOut+"/shard-2", slurmOut+"/shard-3"); code != exitOK {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	sameDirs(t, ref, merged)

	// Kubernetes: the Indexed Job's command for each completion index.
	data, err := os.ReadFile(clusterDir + "k8s-indexed-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var job struct {
		Kind string
		Spec struct {
			CompletionMode string `yaml:"completionMode"`
			Completions    int
			Template       struct {
				Spec struct {
					Containers []struct {
						Env     []struct{ Name, Value string }
						Command []string
						Args    []string
					}
				}
			}
		}
	}
	for job.Kind != "Job" {
		if err := dec.Decode(&job); err != nil {
			t.Fatalf("no Job in the manifest: %v", err)
		}
	}
	c := job.Spec.Template.Spec.Containers[0]
	if job.Spec.CompletionMode != "Indexed" || len(c.Env) != 1 || c.Env[0].Name != "SHARDS" || c.Env[0].Value != strconv.Itoa(job.Spec.Completions) {
		t.Fatalf("the Job is not Indexed with SHARDS = completions: %+v", job.Spec)
	}
	k8sOut := filepath.Join(dir, "k8s")
	var shards []string
	for i := range job.Spec.Completions {
		cmd := exec.Command(c.Command[0], append(c.Command[1:], c.Args...)...)
		cmd.Env = append(os.Environ(), "PATH="+path, "JOB_COMPLETION_INDEX="+strconv.Itoa(i), "SHARDS="+c.Env[0].Value)
		args := argsOf(t, cmd)
		for j, a := range args {
			args[j] = strings.NewReplacer("/sweep/sweep.yaml", spec, "/results", k8sOut).Replace(a)
		}
		if _, stderr, code := migsim(t, args...); code != exitOK {
			t.Fatalf("index %d: %v: exit %d: %s", i, args, code, stderr)
		}
		shards = append(shards, filepath.Join(k8sOut, fmt.Sprintf("shard-%d", i+1)))
	}
	merged = filepath.Join(dir, "k8s-merged")
	if _, stderr, code := migsim(t, append([]string{"merge", "-o", merged}, shards...)...); code != exitOK {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	sameDirs(t, ref, merged)
}
