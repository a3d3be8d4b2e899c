package sweep

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tinySweep is 4 quick points.
const tinySweep = `name: tiny
base:
  vm: {memory: 64MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 4000, working_set: 32MiB, duration: 2s}
grid:
  network.bandwidth: [500Mbit, 1Gbit]
  model.name: [precopy, postcopy]
`

// TestDirLockRefusesSecondRun: while one process holds an output
// directory, a run on it is refused naming that process (issue 20, item
// 3), and the directory is untouched.
func TestDirLockRefusesSecondRun(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock")
	}
	sw := loadTestSweep(t, tinySweep)
	dir := t.TempDir()
	l, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(t.Context(), sw, Options{Dir: dir, Formats: allFormats})
	want := fmt.Sprintf("%s is in use by pid %d", dir, os.Getpid())
	if !errors.Is(err, ErrDirInUse) || !strings.Contains(err.Error(), want) {
		t.Errorf("run on a locked directory: %v, want %q", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused run wrote %s", ManifestFile)
	}
	if err := Merge(dir, []string{t.TempDir()}, MergeOptions{}); err == nil {
		t.Errorf("merge into a locked directory: no error")
	}
	if err := l.unlock(); err != nil {
		t.Fatal(err)
	}
	run(t, sw, Options{Dir: dir})
}

// TestDirLockConcurrentResume starts two resumes of one directory at the
// same instant: one runs the remaining points, the other is refused, and
// the journal holds every point once (before the lock, both ran every
// point and the journal was corrupt for good).
func TestDirLockConcurrentResume(t *testing.T) {
	sw := loadTestSweep(t, testSweep)
	dir := t.TempDir()
	// Start the directory: manifest and an empty journal.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeManifest(dir, newManifest(sw, Shard{}, false)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	start := make(chan struct{})
	for i := range errs {
		wg.Go(func() {
			<-start
			_, errs[i] = Run(t.Context(), sw, Options{Dir: dir, Resume: true, Formats: allFormats})
		})
	}
	close(start)
	wg.Wait()
	ok, refused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrDirInUse):
			refused++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	// The two may also run one after the other, the second finding
	// nothing to do.
	if ok+refused != 2 || ok == 0 {
		t.Errorf("%d runs ended ok and %d were refused", ok, refused)
	}
	ix := newLineIndex(sw.Len(), false)
	if _, err := scanJournal(filepath.Join(dir, JournalFile), ix, nil); err != nil {
		t.Fatal(err)
	}
	if n := countLines(t, filepath.Join(dir, JournalFile)); n != len(sw.Points) || ix.lines != len(sw.Points) {
		t.Errorf("journal has %d lines for %d points, want one each", n, len(sw.Points))
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// TestDirLockReleasedOnKill: a process killed with SIGKILL while it holds
// a directory leaves no stale lock.
func TestDirLockReleasedOnKill(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock, no SIGKILL")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), "MIGSIM_HOLD_LOCK="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "locked") {
		t.Fatalf("helper said %q, %v", line, err)
	}
	_, err = lockDir(dir)
	want := "in use by pid " + strconv.Itoa(cmd.Process.Pid)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("lock held by the helper: %v, want %q", err, want)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	l, err := lockDir(dir)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.unlock()
}

// TestHelperHoldLock is the process TestDirLockReleasedOnKill kills.
func TestHelperHoldLock(t *testing.T) {
	dir := os.Getenv("MIGSIM_HOLD_LOCK")
	if dir == "" {
		t.Skip("helper process of TestDirLockReleasedOnKill")
	}
	if _, err := lockDir(dir); err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
}

// TestJournalAppends: the journal is opened for appending, so a write
// lands at the end of the file whatever else extended it.
func TestJournalAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), JournalFile)
	if err := os.WriteFile(path, []byte("a\npartial"), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := openJournal(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("b\n"))
	f.Close()
	if err := j.append([]byte("c\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "a\nb\nc\n" {
		t.Errorf("journal %q, want %q", b, "a\nb\nc\n")
	}
}

// TestStaleTempsRemoved: temporary files left by a run killed while it
// wrote its outputs are removed by the next run in the directory (issue
// 20, item 9), and other files are left alone.
func TestStaleTempsRemoved(t *testing.T) {
	sw := loadTestSweep(t, tinySweep)
	dir := t.TempDir()
	run(t, sw, Options{Dir: dir})
	stale := []string{".results.csv.tmp123456", ".results.jsonl.tmp9", ".sweep.json.tmp42", ".results.parquet.tmp7"}
	keep := []string{".notes.tmp1", "results.csv.tmp1"}
	for _, name := range append(stale, keep...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, sw, Options{Dir: dir, Resume: true})
	for _, name := range stale {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there", name)
		}
	}
	for _, name := range keep {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
}

// TestForeignOutputsRefused: a run into a directory holding a results
// file migsim did not write is refused unless Force (issue 20, item 6).
func TestForeignOutputsRefused(t *testing.T) {
	sw := loadTestSweep(t, tinySweep)
	for _, name := range []string{CSVFile, ParquetFile, JournalFile} {
		dir := t.TempDir()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("mine\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Run(t.Context(), sw, Options{Dir: dir, Formats: allFormats})
		if err == nil || !strings.Contains(err.Error(), dir+" holds "+name+" but no sweep.json: migsim did not write them") {
			t.Errorf("%s: %v", name, err)
		}
		if b, _ := os.ReadFile(path); string(b) != "mine\n" {
			t.Errorf("%s was changed to %q", name, b)
		}
		if _, err := os.Stat(filepath.Join(dir, ManifestFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the refused run wrote a manifest", name)
		}
		run(t, sw, Options{Dir: dir, Force: true})
		if b, _ := os.ReadFile(path); string(b) == "mine\n" {
			t.Errorf("%s: --force left it", name)
		}
	}
}

// TestMergeRefusesOverwrite: merge does not replace a sweep's outputs or
// files migsim did not write without Force (issue 20, item 6).
func TestMergeRefusesOverwrite(t *testing.T) {
	sw := loadTestSweep(t, tinySweep)
	root := t.TempDir()
	var shards []string
	for k := 1; k <= 2; k++ {
		d := filepath.Join(root, fmt.Sprintf("s%d", k))
		run(t, sw, Options{Dir: d, Shard: Shard{k, 2}})
		shards = append(shards, d)
	}
	other := filepath.Join(root, "other")
	run(t, loadTestSweep(t, testSweep), Options{Dir: other})
	before, _ := os.ReadFile(filepath.Join(other, JournalFile))
	err := Merge(other, shards, MergeOptions{Formats: allFormats})
	if err == nil || !strings.Contains(err.Error(), `already holds sweep "t" (18 points); pass --force`) {
		t.Errorf("merge over another sweep: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(other, JournalFile)); !bytes.Equal(before, after) {
		t.Errorf("the refused merge changed %s", JournalFile)
	}
	foreign := filepath.Join(root, "foreign")
	os.MkdirAll(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, CSVFile), []byte("mine\n"), 0o644)
	if err := Merge(foreign, shards, MergeOptions{Formats: allFormats}); err == nil || !strings.Contains(err.Error(), "migsim did not write them") {
		t.Errorf("merge over a foreign results.csv: %v", err)
	}
	// With Force both are replaced by the merged sweep, which equals an
	// unsharded run; a second merge into the merged directory needs it too.
	ref := filepath.Join(root, "ref")
	run(t, sw, Options{Dir: ref})
	for _, dir := range []string{other, foreign} {
		if err := Merge(dir, shards, MergeOptions{Formats: allFormats, Force: true}); err != nil {
			t.Fatal(err)
		}
		sameOutputs(t, dir, ref)
		if err := Merge(dir, shards, MergeOptions{Formats: allFormats}); err == nil {
			t.Errorf("second merge into %s without --force: no error", dir)
		}
	}
}

// TestSlowLinkPointResumes: a sweep with a point on a very slow link runs
// it to max_time and resumes cleanly (issue 20, item 2: its result held
// +Inf, which JSON refused, so every --resume failed on it).
func TestSlowLinkPointResumes(t *testing.T) {
	sw := loadTestSweep(t, `name: slow
base:
  vm: {memory: 64MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 4000, working_set: 32MiB, duration: 2s}
grid:
  network.bandwidth: [1.5Kbit, 1Gbit]
`)
	dir := t.TempDir()
	j := filepath.Join(dir, JournalFile)
	run(t, sw, Options{Dir: dir})
	b, err := os.ReadFile(j)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"stop_reason":"max_time"`)) {
		t.Errorf("the slow point did not stop at max_time:\n%s", b)
	}
	// Drop the slow point's line and resume: it runs again.
	lines := bytes.SplitAfter(b, []byte("\n"))
	if err := os.WriteFile(j, lines[1], 0o644); err != nil {
		t.Fatal(err)
	}
	if sum := run(t, sw, Options{Dir: dir, Resume: true}); sum.Ran != 1 {
		t.Errorf("resume ran %d points, want 1", sum.Ran)
	}
}

// TestRunNeedsPoints: Run refuses a sweep opened without its points or
// their index, with an error, not an index out of range, and runs one
// opened with the index alone, loading each point as it runs it.
func TestRunNeedsPoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte(tinySweep), 0o644); err != nil {
		t.Fatal(err)
	}
	sw, err := Open(t.Context(), path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(t.Context(), sw, Options{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "Run needs each point's ID and workload") {
		t.Errorf("Run of an unkept sweep: %v", err)
	}
	sw, err = Open(t.Context(), path, LoadOptions{Index: true})
	if err != nil {
		t.Fatal(err)
	}
	if sw.Points != nil {
		t.Fatal("Open with Index kept the points")
	}
	if sum, err := Run(t.Context(), sw, Options{Dir: t.TempDir()}); err != nil || sum.Ran != sw.Len() {
		t.Errorf("Run of an indexed sweep: %d of %d points, %v", sum.Ran, sw.Len(), err)
	}
}
