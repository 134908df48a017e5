package ssl

import (
	"context"
	"errors"
	"testing"

	"hallucinator/kernels/cpu"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// TestEvaluate checks that Evaluate gives the figures of the functions it is
// made of, called one by one, that it reports its progress in order, and
// that a cancelled context stops it.
func TestEvaluate(t *testing.T) {
	be := cpu.New(cpu.Options{Threads: 2})
	defer be.Close()
	c := tinyConfig("simclr", false)
	c.Width = 4
	fw, err := New(be, tensor.NewRand(3), c)
	if err != nil {
		t.Fatal(err)
	}
	train, eval := twoViewData(60), twoViewData(23)
	norm := data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}}
	probe := DefaultProbe
	probe.Epochs, probe.Milestones = 4, []int{2, 3}
	var stages []EvalProgress
	cfg := EvalConfig{KNN: KNNConfig{K: 5, Temperature: 0.1}, Ks: []int{1, 20}, RawPixels: true, Probe: &probe,
		AlignImages: 10, Seed: 4, Batch: 16, Progress: func(p EvalProgress) { stages = append(stages, p) }}
	ctx := context.Background()
	sum, err := Evaluate(ctx, be, fw, EvalData{Train: train, Eval: eval, Split: "val", Norm: norm}, cfg)
	if err != nil {
		t.Fatal(err)
	}

	trf, _ := Embed(ctx, be, fw, train, norm, 16)
	evf, _ := Embed(ctx, be, fw, eval, norm, 16)
	acc, err := KNNAccuracyByK(ctx, be, []int{5, 1, 20}, 0.1, trf, train.Labels, evf, eval.Labels, 2)
	if err != nil {
		t.Fatal(err)
	}
	rank, _ := EffectiveRank(evf.Data(), evf.Dim(1))
	res, err := LinearProbe(ctx, be, probe, trf, train.Labels, evf, eval.Labels, 2)
	if err != nil {
		t.Fatal(err)
	}
	rawTr, _ := pixels(train, norm)
	rawEv, _ := pixels(eval, norm)
	raw, _ := KNNAccuracy(ctx, be, KNNConfig{K: 5, Temperature: 0.1}, rawTr, train.Labels, rawEv, eval.Labels, 2)
	if sum.Split != "val" || sum.Images != 23 || sum.KNN != acc[0] || sum.KNNByK[1] != acc[1] || sum.KNNByK[20] != acc[2] ||
		sum.EffectiveRank != rank || sum.KNNRawPixels != raw || len(sum.KNNRawPixelsByK) != 2 ||
		sum.Probe == nil || sum.Probe.Last != res.Last || len(sum.Probe.Curve) != 4 {
		t.Errorf("summary %+v (probe %+v), want kNN %v, rank %v, raw %v, probe %+v", sum, sum.Probe, acc, rank, raw, res)
	}
	if !(sum.Alignment > 0) || !(sum.Uniformity < 0) || sum.Duration <= 0 {
		t.Errorf("alignment %v, uniformity %v, duration %v", sum.Alignment, sum.Uniformity, sum.Duration)
	}
	// Progress: each stage starts at 0 and ends at its total, in order.
	order := []string{"embed train", "embed val", "kNN", "raw-pixel kNN", "linear probe", "alignment"}
	k := 0
	for i, p := range stages {
		if p.Done < 0 || p.Done > p.Total {
			t.Fatalf("progress %+v", p)
		}
		if i > 0 && stages[i-1].Stage == p.Stage && p.Done < stages[i-1].Done {
			t.Fatalf("progress went back: %+v after %+v", p, stages[i-1])
		}
		if p.Stage != order[k] {
			k++
			if k == len(order) || p.Stage != order[k] || p.Done != 0 {
				t.Fatalf("stage %+v out of order (after %q)", p, order[k-1])
			}
		}
	}
	if last := stages[len(stages)-1]; k != len(order)-1 || last.Done != last.Total {
		t.Errorf("progress ended at %+v", last)
	}

	// The zero configuration is the monitor alone.
	mon, err := Evaluate(ctx, be, fw, EvalData{Train: train, Eval: eval, Norm: norm}, EvalConfig{KNN: KNNConfig{K: 5, Temperature: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	if mon.KNN != acc[0] || mon.Probe != nil || mon.KNNByK != nil || mon.Alignment != 0 || mon.Split != "eval" {
		t.Errorf("monitor %+v", mon)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Evaluate(cctx, be, fw, EvalData{Train: train, Eval: eval, Norm: norm}, cfg); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := Evaluate(ctx, be, fw, EvalData{Train: train}, cfg); err == nil {
		t.Error("no evaluation set accepted")
	}
}
