package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// outputFiles are the files a run writes atomically (through a temporary
// file renamed over them).
var outputFiles = []string{configFile, checkpointFile, summaryFile, "loss.png", "similarity.png", "accuracy.png"}

// removeTemporaries removes the temporary files that a run killed while
// writing one of its outputs leaves in dir (".checkpoint.safetensors.tmp-*"
// and the like), and returns how many it removed.
func removeTemporaries(dir string) (int, error) {
	n := 0
	for _, name := range outputFiles {
		paths, err := filepath.Glob(filepath.Join(dir, "."+name+".tmp*"))
		if err != nil {
			return n, err
		}
		for _, p := range paths {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// truncateMetrics rewrites the metrics file at path (atomically) keeping the
// records of the first keep steps of the run (epoch records of the epochs
// they complete, with stepsPerEpoch steps each), so that a resumed run that
// repeats steps does not log them twice; keep < 0 keeps nothing. Final
// records go, since the final evaluation runs again. A missing file is left
// missing; a line that is not JSON (the last, torn by a kill) is dropped.
func truncateMetrics(path string, keep, stepsPerEpoch int) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<24)
	for keep >= 0 && sc.Scan() {
		line := sc.Bytes()
		var rec struct {
			Type       string   `json:"type"`
			Epoch      *float64 `json:"epoch"`
			GlobalStep *float64 `json:"global_step"`
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		switch {
		case rec.Type == "final":
			continue
		case rec.GlobalStep != nil && *rec.GlobalStep > float64(keep):
			continue
		case rec.Type == "epoch" && rec.Epoch != nil && *rec.Epoch*float64(stepsPerEpoch) > float64(keep):
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(out.Bytes(), raw) {
		return nil
	}
	return writeAtomic(path, func(f *os.File) error {
		_, err := f.Write(out.Bytes())
		return err
	})
}
