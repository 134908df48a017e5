// Command summarize reads the run directories of cmd/train and reports each
// setting's figures over its seeds (mean, standard deviation, min and max),
// and the Hallucinator's effect as paired differences: for each framework,
// the runs with and without it that share a seed and every other setting,
// with the mean difference and its 95 % confidence interval (Student's t).
// A comparison is only as good as its seeds: one seed gives no interval.
//
//	go run ./cmd/summarize runs/*
//	go run ./cmd/summarize -metric val_knn runs/*     # choose settings by validation figures
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "summarize:", err)
		os.Exit(1)
	}
}

// metrics are the figures of summary.json summarize knows, in percent
// unless said.
var metrics = []string{"knn", "linear_last", "val_knn", "val_linear_last", "linear_aug_last", "knn_raw_pixels",
	"alignment", "uniformity", "effective_rank"}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("summarize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	metric := fs.String("metric", "knn", "the figure to compare: "+strings.Join(metrics, ", "))
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: summarize [-metric NAME] RUN_DIR...\n\nFigures of cmd/train runs over their seeds, and the Hallucinator's paired effect.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !slices.Contains(metrics, *metric) {
		return fmt.Errorf("-metric %q: want one of %s", *metric, strings.Join(metrics, ", "))
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no run directories")
	}
	var runs []run1
	for _, dir := range fs.Args() {
		r, err := readRun(dir)
		if err != nil {
			fmt.Fprintf(stderr, "summarize: skipping %s: %v\n", dir, err)
			continue
		}
		if _, ok := r.figures[*metric]; !ok {
			fmt.Fprintf(stderr, "summarize: skipping %s: its summary has no %s\n", dir, *metric)
			continue
		}
		runs = append(runs, r)
	}
	if len(runs) == 0 {
		return errors.New("no finished run with that figure")
	}
	return report(stdout, runs, *metric)
}

// run1 is one finished run: its setting (every configuration entry but the
// seed and the paths), seed and figures.
type run1 struct {
	dir         string
	setting     string // canonical JSON of the configuration without seed, paths and device
	framework   string
	hallucinate bool
	seed        uint64
	figures     map[string]float64
	cfg         map[string]any
}

// ignored are configuration entries that do not change what a run
// measures.
var ignored = map[string]bool{"seed": true, "out": true, "resume": true, "device": true, "workers": true, "data_dir": true}

func readRun(dir string) (run1, error) {
	r := run1{dir: dir}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return r, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return r, fmt.Errorf("config.json: %w", err)
	}
	raw, err = os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return r, fmt.Errorf("not finished: %w", err)
	}
	var sum map[string]any
	if err := json.Unmarshal(raw, &sum); err != nil {
		return r, fmt.Errorf("summary.json: %w", err)
	}
	r.figures = map[string]float64{}
	for _, m := range metrics {
		if v, ok := sum[m].(float64); ok {
			r.figures[m] = v
		}
	}
	r.cfg = cfg
	r.framework, _ = cfg["framework"].(string)
	r.hallucinate, _ = cfg["hallucinate"].(bool)
	if s, ok := cfg["seed"].(float64); ok {
		r.seed = uint64(s)
	}
	setting := map[string]any{}
	for k, v := range cfg {
		if !ignored[k] {
			setting[k] = v
		}
	}
	b, _ := json.Marshal(setting) // map keys sorted: canonical
	r.setting = string(b)
	return r, nil
}

// percent says whether a metric is a fraction shown in percent.
func percent(m string) bool {
	return m != "alignment" && m != "uniformity" && m != "effective_rank"
}

func report(w io.Writer, runs []run1, metric string) error {
	scale, unit := 1.0, ""
	if percent(metric) {
		scale, unit = 100, " %"
	}
	// Settings over seeds.
	groups := map[string][]run1{}
	var order []string
	for _, r := range runs {
		if _, ok := groups[r.setting]; !ok {
			order = append(order, r.setting)
		}
		groups[r.setting] = append(groups[r.setting], r)
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := groups[order[i]][0], groups[order[j]][0]
		if a.framework != b.framework {
			return a.framework < b.framework
		}
		return a.hallucinate && !b.hallucinate
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "setting\tHallucinator\tseeds\t%s mean\tsd\tmin\tmax\truns\n", metric)
	for i, key := range order {
		g := groups[key]
		var xs []float64
		var dirs []string
		for _, r := range g {
			xs = append(xs, scale*r.figures[metric])
			dirs = append(dirs, filepath.Base(r.dir))
		}
		m, sd := meanSD(xs)
		sdText := "-"
		if len(xs) > 1 {
			sdText = fmt.Sprintf("%.2f", sd)
		}
		fmt.Fprintf(tw, "%d: %s\t%v\t%d\t%.2f%s\t%s\t%.2f\t%.2f\t%s\n", i+1, g[0].framework, g[0].hallucinate, len(xs), m, unit, sdText,
			slices.Min(xs), slices.Max(xs), strings.Join(dirs, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Paired effects: the same framework, data set, preset, size and seed,
	// with and without the Hallucinator; the other settings that differ (a
	// preset may set some by the Hallucinator) are listed.
	fmt.Fprintf(w, "\nthe Hallucinator's effect on %s, paired by seed (with minus without):\n", metric)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "framework\tpairs\tmean difference\t95 %% interval\tseeds\talso differing\n")
	ident := func(r run1) string {
		return fmt.Sprint(r.cfg["framework"], "|", r.cfg["dataset"], "|", r.cfg["preset"], "|", r.cfg["compat"], "|", r.cfg["epochs"], "|", r.cfg["width"])
	}
	type pairSet struct {
		framework string
		diffs     []float64
		seeds     []string
		differ    map[string]bool
	}
	sets := map[string]*pairSet{}
	var keys []string
	for _, on := range runs {
		if !on.hallucinate {
			continue
		}
		for _, off := range runs {
			if off.hallucinate || off.seed != on.seed || ident(off) != ident(on) {
				continue
			}
			k := ident(on)
			ps := sets[k]
			if ps == nil {
				ps = &pairSet{framework: on.framework, differ: map[string]bool{}}
				sets[k] = ps
				keys = append(keys, k)
			}
			ps.diffs = append(ps.diffs, scale*(on.figures[metric]-off.figures[metric]))
			ps.seeds = append(ps.seeds, fmt.Sprint(on.seed))
			for key, v := range on.cfg {
				if !ignored[key] && key != "hallucinate" && fmt.Sprint(off.cfg[key]) != fmt.Sprint(v) {
					ps.differ[key] = true
				}
			}
			break
		}
	}
	if len(keys) == 0 {
		fmt.Fprintln(tw, "(no pairs: runs with and without the Hallucinator of the same framework, data set, preset, size and seed)")
	}
	sort.Strings(keys)
	for _, k := range keys {
		ps := sets[k]
		m, sd := meanSD(ps.diffs)
		ci := "- (one seed)"
		if n := len(ps.diffs); n > 1 {
			h := tQuantile975(n-1) * sd / math.Sqrt(float64(n))
			ci = fmt.Sprintf("[%+.2f, %+.2f]%s", m-h, m+h, unit)
		}
		var differ []string
		for key := range ps.differ {
			differ = append(differ, key)
		}
		sort.Strings(differ)
		fmt.Fprintf(tw, "%s\t%d\t%+.2f%s\t%s\t%s\t%s\n", ps.framework, len(ps.diffs), m, unit, ci, strings.Join(ps.seeds, ","), strings.Join(differ, ", "))
	}
	return tw.Flush()
}

func meanSD(xs []float64) (mean, sd float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)-1))
}

// tQuantile975 is the 97.5th percentile of Student's t with df degrees of
// freedom (two-sided 95 %).
func tQuantile975(df int) float64 {
	table := []float64{0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086}
	if df < len(table) {
		return table[df]
	}
	if df < 30 {
		return 2.086 - float64(df-20)*(2.086-2.042)/10
	}
	return 1.96 + 2.4/float64(df) // within 0.005 of the exact value from 30 up
}
