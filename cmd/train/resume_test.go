package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hallucinator/nn"
	"hallucinator/ssl"
	"hallucinator/ssl/data"
)

// Child mode: the test binary runs the command itself when these are set,
// so that a test can kill a real process.
const (
	childArgsEnv  = "TRAIN_TEST_CHILD_ARGS"  // the command's arguments, as a JSON list
	childStallEnv = "TRAIN_TEST_CHILD_STALL" // a global step after which the child prints "stalled" and waits to be killed
	childLimitEnv = "TRAIN_TEST_CHILD_AS"    // an address-space limit in bytes
)

func TestMain(m *testing.M) {
	if raw := os.Getenv(childArgsEnv); raw != "" {
		os.Exit(childMain(raw))
	}
	os.Exit(m.Run())
}

// childMain is main with the test hooks of the environment.
func childMain(raw string) int {
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	if v := os.Getenv(childLimitEnv); v != "" {
		n, _ := strconv.ParseUint(v, 10, 64)
		if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			fmt.Fprintln(os.Stderr, "child: setrlimit:", err)
			return 2
		}
	}
	var h hooks
	if v := os.Getenv(childStallEnv); v != "" {
		at, _ := strconv.Atoi(v)
		h.afterStep = func(s ssl.StepInfo) {
			if s.GlobalStep == at {
				fmt.Println("stalled")
				select {}
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runWith(ctx, args, os.Stdout, os.Stderr, h); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		return 1
	}
	return 0
}

// startChild starts the test binary as the command with args and extra
// environment variables.
func startChild(t *testing.T, args []string, env ...string) (*exec.Cmd, io.ReadCloser, *bytes.Buffer) {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childArgsEnv+"="+string(raw))...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, &stderr
}

// needFashionMNIST skips a test when Debian's Fashion-MNIST is missing.
func needFashionMNIST(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(data.FashionMNISTDir(), "t10k-labels-idx1-ubyte.gz")); err != nil {
		if _, err2 := os.Stat(filepath.Join(data.FashionMNISTDir(), "t10k-labels-idx1-ubyte")); err2 != nil {
			t.Skipf("Fashion-MNIST not available (make test installs it): %v", err)
		}
	}
}

// resumeArgs is a run of 2 epochs of 4 steps, small enough for many runs.
func resumeArgs(fw string, hal bool, dir string) []string {
	return []string{"-device", "cpu", "-framework", fw, "-hallucinate=" + strconv.FormatBool(hal), "-out", dir,
		"-train-subset", "128", "-test-subset", "64", "-batch", "16", "-epochs", "2", "-max-steps", "4",
		"-width", "2", "-probe-epochs", "2", "-knn-k", "5", "-queue", "32", "-shuffle-bn", "2", "-workers", "2", "-quiet"}
}

// runOutcome is what a finished run leaves: every tensor of its last
// checkpoint, its summary without timings, its step metrics and config.
type runOutcome struct {
	tensors []nn.NamedTensor
	summary map[string]any
	steps   []string // "global_step loss" of each step record, in order
	epochs  []float64
	config  map[string]any // without "out", which names the directory
}

func readOutcome(t *testing.T, dir string) runOutcome {
	t.Helper()
	var o runOutcome
	var err error
	if o.tensors, _, err = nn.ReadSafetensors(filepath.Join(dir, checkpointFile)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, summaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &o.summary); err != nil {
		t.Fatal(err)
	}
	delete(o.summary, "pretrain_seconds")
	delete(o.summary, "eval_seconds")
	raw, err = os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &o.config); err != nil {
		t.Fatal(err)
	}
	delete(o.config, "out")
	metrics, err := os.ReadFile(filepath.Join(dir, metricsFile))
	if err != nil {
		t.Fatal(err)
	}
	finals := 0
	for _, line := range strings.Split(strings.TrimSpace(string(metrics)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		switch rec["type"] {
		case "step":
			o.steps = append(o.steps, fmt.Sprint(rec["global_step"], " ", rec["loss"]))
		case "epoch":
			o.epochs = append(o.epochs, rec["epoch"].(float64))
		case "final":
			finals++
		}
	}
	if finals != 1 {
		t.Errorf("%d final records in the metrics, want 1", finals)
	}
	return o
}

// sameOutcome fails unless b is a, bit for bit.
func sameOutcome(t *testing.T, what string, a, b runOutcome) {
	t.Helper()
	if len(a.tensors) != len(b.tensors) {
		t.Fatalf("%s: %d tensors, want %d", what, len(b.tensors), len(a.tensors))
	}
	differ := 0
	for i := range a.tensors {
		x, y := a.tensors[i].T.Data(), b.tensors[i].T.Data()
		if a.tensors[i].Name != b.tensors[i].Name || len(x) != len(y) {
			t.Fatalf("%s: tensor %d is %s, want %s", what, i, b.tensors[i].Name, a.tensors[i].Name)
		}
		for j := range x {
			if math.Float32bits(x[j]) != math.Float32bits(y[j]) {
				differ++
				break
			}
		}
	}
	if differ > 0 {
		t.Errorf("%s: %d of %d tensors differ from the straight run", what, differ, len(a.tensors))
	}
	as, _ := json.Marshal(a.summary)
	bs, _ := json.Marshal(b.summary)
	if !bytes.Equal(as, bs) {
		t.Errorf("%s: summary\n%s\nwant\n%s", what, bs, as)
	}
	if fmt.Sprint(a.steps) != fmt.Sprint(b.steps) || fmt.Sprint(a.epochs) != fmt.Sprint(b.epochs) {
		t.Errorf("%s: metrics steps %v epochs %v, want %v %v", what, b.steps, b.epochs, a.steps, a.epochs)
	}
	if ac, bc := fmt.Sprint(a.config), fmt.Sprint(b.config); ac != bc {
		t.Errorf("%s: config.json\n%s\nwant\n%s", what, bc, ac)
	}
}

// TestResumeMatrix stops each framework, with and without the
// Hallucinator, at several points, by cancellation in the process and by
// kill -9 of a child process, resumes it, and compares every tensor of the
// final checkpoint, the summary, the step metrics and the configuration
// with the straight run's, bit for bit.
func TestResumeMatrix(t *testing.T) {
	needFashionMNIST(t)
	type stop struct {
		name string
		kill bool
		at   int // global step after which the run stops (1-based)
	}
	stops := []stop{
		{"cancel mid epoch 1", false, 2},
		{"cancel at the end of epoch 1", false, 4},
		{"cancel mid epoch 2", false, 7},
		{"kill before the first checkpoint", true, 3},
		{"kill mid epoch 2", true, 6},
		{"kill after epoch 1", true, -1},
	}
	for _, fw := range []string{"simclr", "mocov1", "mocov2", "simsiam", "byol"} {
		for _, hal := range []bool{false, true} {
			name := fw
			if hal {
				name += "+hal"
			}
			t.Run(name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "straight")
				var out bytes.Buffer
				if err := run(context.Background(), resumeArgs(fw, hal, dir), &out, &out); err != nil {
					t.Fatalf("straight run: %v\n%s", err, out.String())
				}
				want := readOutcome(t, dir)
				for i, st := range stops {
					if testing.Short() && i%2 == 1 {
						continue
					}
					dir := filepath.Join(t.TempDir(), fmt.Sprint("stop", i))
					args := resumeArgs(fw, hal, dir)
					if st.kill {
						killChild(t, args, st.at)
					} else {
						ctx, cancel := context.WithCancel(context.Background())
						err := runWith(ctx, args, io.Discard, io.Discard, hooks{afterStep: func(s ssl.StepInfo) {
							if s.GlobalStep == st.at {
								cancel()
							}
						}})
						cancel()
						if err == nil || !strings.Contains(err.Error(), "continue with -resume") {
							t.Fatalf("%s: %v", st.name, err)
						}
					}
					cfg, err := os.ReadFile(filepath.Join(dir, configFile))
					if err != nil {
						t.Fatalf("%s: %v", st.name, err)
					}
					out.Reset()
					if err := run(context.Background(), []string{"-resume", dir, "-quiet", "-workers", "1"}, &out, &out); err != nil {
						t.Fatalf("%s: resume: %v\n%s", st.name, err, out.String())
					}
					if st.kill && st.at == 3 && !strings.Contains(out.String(), "starting it from the beginning") {
						t.Errorf("%s: resume said\n%s", st.name, out.String())
					}
					got := readOutcome(t, dir)
					if now, _ := os.ReadFile(filepath.Join(dir, configFile)); !bytes.Equal(cfg, now) {
						t.Errorf("%s: the resume rewrote config.json:\n%s\nwas\n%s", st.name, now, cfg)
					}
					sameOutcome(t, st.name, want, got)
				}
			})
		}
	}
}

// killChild runs the command with args in a child process and kills it
// with SIGKILL after global step at, or (at < 0) as soon as it reports the
// end of epoch 1, which is about when it writes its first checkpoint.
func killChild(t *testing.T, args []string, at int) {
	t.Helper()
	var env []string
	if at > 0 {
		env = append(env, childStallEnv+"="+strconv.Itoa(at))
	}
	cmd, stdout, stderr := startChild(t, args, env...)
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if (at > 0 && line == "stalled") || (at < 0 && strings.HasPrefix(line, "epoch 1:")) {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if !killed {
			t.Fatalf("the child ended before it could be killed: %v\n%s", err, stderr.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("the child did not end")
	}
}
