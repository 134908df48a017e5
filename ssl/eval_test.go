package ssl

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"gonum.org/v1/gonum/mat"

	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// clusters returns n points of dimension d around one centre per class.
func clusters(seed uint64, n, d, classes int, noise float32) (*tensor.Tensor, []int32) {
	rng := tensor.NewRand(seed)
	centres := tensor.RandN(tensor.NewRand(100), 0, 1, classes, d).Data()
	x := tensor.RandN(rng, 0, noise, n, d)
	labels := make([]int32, n)
	for i := 0; i < n; i++ {
		c := rng.IntN(classes)
		labels[i] = int32(c)
		for j := 0; j < d; j++ {
			x.Data()[i*d+j] += centres[c*d+j]
		}
	}
	return x, labels
}

func TestKNNAccuracy(t *testing.T) {
	be := ref.New()
	ctx := context.Background()
	for _, tc := range []struct {
		noise    float32
		min, max float64
	}{{0.05, 0.99, 1}, {10, 0, 0.5}} {
		tr, trl := clusters(1, 300, 9, 4, tc.noise)
		te, tel := clusters(2, 101, 9, 4, tc.noise)
		acc, err := KNNAccuracy(ctx, be, KNNConfig{K: 20, Temperature: 0.1}, tr, trl, te, tel, 4)
		if err != nil {
			t.Fatal(err)
		}
		if acc < tc.min || acc > tc.max {
			t.Errorf("noise %v: accuracy %v outside [%v, %v]", tc.noise, acc, tc.min, tc.max)
		}
	}
	if _, err := KNNAccuracy(ctx, be, KNNConfig{K: 0, Temperature: 0.1}, tensor.Ones(2, 2), []int32{0, 1}, tensor.Ones(1, 2), []int32{0}, 2); err == nil {
		t.Error("k = 0 accepted")
	}
}

// TestKNNAccuracyByK checks every neighbour count against a plain vote
// over the test rows' neighbours sorted by cosine similarity, for counts in
// any order, repeated, and above the number of train features.
func TestKNNAccuracyByK(t *testing.T) {
	be := ref.New()
	ctx := context.Background()
	tr, trl := clusters(3, 211, 7, 5, 1.5)
	te, tel := clusters(4, 97, 7, 5, 1.5)
	ks := []int{50, 1, 7, 7, 400, 211, 20}
	got, err := KNNAccuracyByK(ctx, be, ks, 0.1, tr, trl, te, tel, 5)
	if err != nil {
		t.Fatal(err)
	}
	trn, ten := normalizeRows(tr.Data(), 7), normalizeRows(te.Data(), 7)
	for i, k := range ks {
		correct := 0
		for r := range 97 {
			sim := make([]float64, 211)
			for j := range sim {
				for c := range 7 {
					sim[j] += float64(ten[r*7+c]) * float64(trn[j*7+c])
				}
			}
			idx := make([]int, 211)
			for j := range idx {
				idx[j] = j
			}
			sort.SliceStable(idx, func(a, b int) bool { return sim[idx[a]] > sim[idx[b]] })
			votes := make([]float64, 5)
			for _, j := range idx[:min(k, 211)] {
				votes[trl[j]] += math.Exp(sim[j] / 0.1)
			}
			if int32(argmax(votes)) == tel[r] {
				correct++
			}
		}
		want := float64(correct) / 97
		// Rounding may reorder two nearly equal similarities: one row.
		if math.Abs(got[i]-want) > 1.0/97+1e-12 {
			t.Errorf("k = %d: accuracy %v, want %v", k, got[i], want)
		}
		one, err := KNNAccuracy(ctx, be, KNNConfig{K: k, Temperature: 0.1}, tr, trl, te, tel, 5)
		if err != nil || one != got[i] {
			t.Errorf("k = %d: KNNAccuracy %v (%v), KNNAccuracyByK %v", k, one, err, got[i])
		}
	}
	if got[0] == got[1] && got[1] == got[4] {
		t.Errorf("accuracies %v do not depend on k: the test data are too easy", got)
	}
	for _, tc := range []struct {
		ks   []int
		temp float64
	}{{nil, 0.1}, {[]int{5, 0}, 0.1}, {[]int{5}, 0}} {
		if _, err := KNNAccuracyByK(ctx, be, tc.ks, tc.temp, tr, trl, te, tel, 5); err == nil {
			t.Errorf("ks %v, temperature %v accepted", tc.ks, tc.temp)
		}
	}
}

func TestTopK(t *testing.T) {
	rng := tensor.NewRand(4)
	for _, n := range []int{1, 2, 7, 100, 1001} {
		for _, ties := range []bool{false, true} {
			v := tensor.RandN(rng, 0, 1, n).Data()
			if ties { // few distinct values: the tie rule decides
				for i := range v {
					v[i] = float32(math.Round(float64(v[i]) * 2))
				}
			}
			for _, k := range []int{1, n / 2, n - 1, n, n + 3} {
				if k <= 0 {
					continue
				}
				want := make([]int, n)
				for i := range want {
					want[i] = i
				}
				sort.SliceStable(want, func(a, b int) bool { return v[want[a]] > v[want[b]] })
				want = want[:min(k, n)]
				got := topK(make([]int, 0, k), v, k)
				if !slices.Equal(got, want) {
					t.Fatalf("n=%d k=%d ties=%v: got %v, want %v", n, k, ties, got, want)
				}
			}
		}
	}
}

func TestAlignmentUniformity(t *testing.T) {
	a := []float32{1, 0, 0, 1}
	if got, _ := Alignment(a, a, 2, 2); got != 0 {
		t.Fatalf("alignment of identical pairs = %v", got)
	}
	b := []float32{-3, 0, 0, -2} // antipodal after normalisation: distance 2
	if got, _ := Alignment(a, b, 2, 2); math.Abs(got-4) > 1e-6 {
		t.Fatalf("alignment of antipodal pairs = %v, want 4", got)
	}
	// Two orthogonal unit vectors: squared distance 2, log exp(-2*2) = -4.
	if got, _ := Uniformity(a, 2, 2); math.Abs(got+4) > 1e-6 {
		t.Fatalf("uniformity = %v, want -4", got)
	}
	// Collapsed embeddings are the least uniform: log 1 = 0.
	if got, _ := Uniformity([]float32{1, 1, 2, 2, 3, 3}, 2, 2); math.Abs(got) > 1e-6 {
		t.Fatalf("uniformity of collapsed = %v, want 0", got)
	}
	if _, err := Uniformity([]float32{1, 2}, 2, 2); err == nil {
		t.Fatal("uniformity of one row accepted")
	}
}

func TestLinearProbeSeparable(t *testing.T) {
	be := ref.New()
	tr, trl := clusters(1, 400, 6, 3, 0.3)
	te, tel := clusters(2, 150, 6, 3, 0.3)
	c := DefaultProbe
	c.Epochs, c.Milestones = 5, []int{3}
	res, err := LinearProbe(context.Background(), be, c, tr, trl, te, tel, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Last < 0.95 || len(res.Curve) != 5 || res.Best < res.Last {
		t.Fatalf("probe %+v", res)
	}
}

// TestEmbedMatchesEmbedBatch checks that Embed, whose tape recycles each
// batch's activations for the next, gives the features EmbedBatch computes
// on a fresh tape per batch, bit for bit, with a short last batch.
func TestEmbedMatchesEmbedBatch(t *testing.T) {
	for _, be := range []kernels.Backend{ref.New(), cpu.New(cpu.Options{Threads: 2})} {
		c := tinyConfig("simclr", false)
		c.Width = 4
		fw, err := New(be, tensor.NewRand(3), c)
		if err != nil {
			t.Fatal(err)
		}
		ds := twoViewData(37)
		norm := data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}}
		got, err := Embed(context.Background(), be, fw, ds, norm, 8)
		if err != nil {
			t.Fatal(err)
		}
		d := got.Dim(1)
		for lo := 0; lo < ds.N; lo += 8 {
			hi := min(lo+8, ds.N)
			idx := make([]int, 0, 8)
			for i := lo; i < hi; i++ {
				idx = append(idx, i)
			}
			x := tensor.Zeros(hi-lo, 1, 12, 12)
			if err := FillBatch(ds, norm, idx, x.Data()); err != nil {
				t.Fatal(err)
			}
			want, err := EmbedBatch(be, fw, x)
			if err != nil {
				t.Fatal(err)
			}
			for j, w := range want.Data() {
				if g := got.Data()[lo*d+j]; math.Float32bits(g) != math.Float32bits(w) || math.IsNaN(float64(w)) {
					t.Fatalf("%s: image %d, feature %d: %v, want %v", be.Name(), lo+j/d, j%d, g, w)
				}
			}
		}
	}
}

// TestEffectiveRank checks RankMe against the singular values of a direct
// SVD on random embeddings of awkward sizes, and its two extremes.
func TestEffectiveRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, sz := range []struct{ n, d int }{{1, 1}, {3, 7}, {37, 5}, {101, 13}, {1009, 64}} {
		x := make([]float32, sz.n*sz.d)
		for i := range x {
			// Columns of different scales, and a shared offset, as pooled
			// features have.
			x[i] = float32((rng.NormFloat64() + 0.7) * float64(1+i%sz.d))
		}
		got, err := EffectiveRank(x, sz.d)
		if err != nil {
			t.Fatal(err)
		}
		xd := make([]float64, len(x))
		for i, v := range x {
			xd[i] = float64(v)
		}
		var svd mat.SVD
		if !svd.Factorize(mat.NewDense(sz.n, sz.d, xd), mat.SVDNone) {
			t.Fatal("reference SVD failed")
		}
		sv := svd.Values(nil)
		var total, h float64
		for _, s := range sv {
			total += s
		}
		for _, s := range sv {
			p := s/total + 1e-7
			h -= p * math.Log(p)
		}
		if want := math.Exp(h); math.Abs(got-want) > 1e-6*want {
			t.Errorf("%dx%d: effective rank %v, reference %v", sz.n, sz.d, got, want)
		}
	}
	// Orthogonal rows of equal norm: every singular value equal, rank d.
	eye := []float32{2, 0, 0, 0, 2, 0, 0, 0, 2}
	if got, _ := EffectiveRank(eye, 3); math.Abs(got-3) > 1e-5 {
		t.Errorf("rank of 2I = %v, want 3", got)
	}
	// Every row on one line: rank 1.
	if got, _ := EffectiveRank([]float32{1, -2, 3, -6, 0.5, -1, -4, 8}, 2); math.Abs(got-1) > 1e-5 {
		t.Errorf("rank of collinear rows = %v, want 1", got)
	}
	for _, bad := range []struct {
		x []float32
		d int
	}{{nil, 2}, {[]float32{1, 2, 3}, 2}, {[]float32{1, 2}, 0}, {[]float32{0, 0, 0, 0}, 2}, {[]float32{1, float32(math.NaN())}, 2}} {
		if _, err := EffectiveRank(bad.x, bad.d); err == nil {
			t.Errorf("EffectiveRank(%v, %d) accepted", bad.x, bad.d)
		}
	}
}
