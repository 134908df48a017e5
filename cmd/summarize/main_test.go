package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeRun(t *testing.T, dir string, cfg, sum map[string]any) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"config.json": cfg, "summary.json": sum} {
		if v == nil {
			continue
		}
		b, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSummarize(t *testing.T) {
	root := t.TempDir()
	var dirs []string
	// SimCLR with and without the Hallucinator, seeds 1-3; the preset
	// turns the anchor crop on with it. kNN with minus without: +1, +2, +3.
	for i, seed := range []int{1, 2, 3} {
		for _, hal := range []bool{true, false} {
			knn := 0.80 + 0.01*float64(i)
			anchor := "off"
			if hal {
				knn += 0.01 * float64(seed)
				anchor = "on"
			}
			d := filepath.Join(root, "simclr-"+map[bool]string{true: "hal", false: "plain"}[hal]+"-"+string(rune('0'+seed)))
			writeRun(t, d, map[string]any{"framework": "simclr", "hallucinate": hal, "seed": seed, "dataset": "fashion-mnist",
				"preset": "cpu", "epochs": 6, "width": 8, "anchor_crop": anchor, "out": d},
				map[string]any{"knn": knn, "linear_last": 0.85})
			dirs = append(dirs, d)
		}
	}
	// An unfinished run and a run without the figure are skipped.
	writeRun(t, filepath.Join(root, "unfinished"), map[string]any{"framework": "simclr", "seed": 9}, nil)
	dirs = append(dirs, filepath.Join(root, "unfinished"))
	var out, errs bytes.Buffer
	if err := run(dirs, &out, &errs); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		// With: 0.81, 0.83, 0.85; without: 0.80, 0.81, 0.82.
		"1: simclr  true          3      83.00 %   2.00  81.00  85.00",
		"2: simclr  false         3      81.00 %   1.00  80.00  82.00",
		// Differences 1, 2, 3: mean 2, sd 1, t(2) = 4.303: 2 +- 2.48.
		"simclr     3      +2.00 %          [-0.48, +4.48] %  1,2,3  anchor_crop",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(errs.String(), "skipping") {
		t.Errorf("unfinished run not reported: %q", errs.String())
	}
	if err := run([]string{"-metric", "val_knn", dirs[0]}, &out, &errs); err == nil {
		t.Error("a metric no run has: no error")
	}
	if err := run([]string{"-metric", "accuracy", dirs[0]}, &out, &errs); err == nil {
		t.Error("unknown metric accepted")
	}
}
