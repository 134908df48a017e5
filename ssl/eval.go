package ssl

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// FillBatch writes images idx of ds, scaled to [0, 1] and normalised by nm,
// into dst [len(idx)*C*H*W] (the data set must have one image size). An
// image of a streamed data set that cannot be read is an error.
func FillBatch(ds *data.Dataset, nm data.Normalize, idx []int, dst []float32) error {
	if ds.Sizes != nil {
		return fmt.Errorf("ssl: data set has images of different sizes; resize it on load")
	}
	if len(nm.Mean) != ds.C || len(nm.Std) != ds.C {
		return fmt.Errorf("ssl: normalisation for %d channels, data set has %d", len(nm.Mean), ds.C)
	}
	hw := ds.H * ds.W
	// A streamed data set's images are decoded in parallel; one that
	// cannot be read is the error.
	return ds.ForImages(idx, 0, func(bi int, pix []uint8, _, _ int) error {
		out := dst[bi*ds.C*hw : (bi+1)*ds.C*hw]
		for c := 0; c < ds.C; c++ {
			mean, inv := float32(nm.Mean[c]), float32(1/nm.Std[c])
			for j := 0; j < hw; j++ {
				out[c*hw+j] = (float32(pix[c*hw+j])/255 - mean) * inv
			}
		}
		return nil
	})
}

// Embed returns the features [N, D] of every image of ds (host tensor),
// computed by m in evaluation mode in batches of batch images, without
// augmentation. It leaves m in evaluation mode.
func Embed(ctx context.Context, be kernels.Backend, m nn.Module, ds *data.Dataset, nm data.Normalize, batch int) (*tensor.Tensor, error) {
	return embed(ctx, be, m, ds, nm, batch, nil)
}

// embed is Embed, calling progress (when not nil) with the number of images
// embedded after each batch.
func embed(ctx context.Context, be kernels.Backend, m nn.Module, ds *data.Dataset, nm data.Normalize, batch int, progress func(done int)) (*tensor.Tensor, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("ssl: embedding batch size %d, want > 0", batch)
	}
	var feats []float32
	d := 0
	buf := make([]float32, batch*ds.C*ds.H*ds.W)
	idx := make([]int, 0, batch)
	// One tape for all batches: each batch's activations are dead once its
	// features are on the host, and serve the next batch.
	tp := autograd.NewTape(be)
	tp.SetRecycling(true)
	for lo := 0; lo < ds.N; lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+batch, ds.N)
		idx = idx[:0]
		for i := lo; i < hi; i++ {
			idx = append(idx, i)
		}
		n := hi - lo
		if err := FillBatch(ds, nm, idx, buf); err != nil {
			return nil, err
		}
		tp.Recycle()
		h, err := embedBatch(be, m, tp, tensor.FromSlice(buf[:n*ds.C*ds.H*ds.W], n, ds.C, ds.H, ds.W))
		if err != nil {
			return nil, err
		}
		if d == 0 {
			d = h.Dim(1)
			feats = make([]float32, 0, ds.N*d)
		}
		feats = append(feats, h.Data()...)
		if progress != nil {
			progress(hi)
		}
	}
	if err := be.Sync(); err != nil {
		return nil, err
	}
	if d == 0 {
		return nil, fmt.Errorf("ssl: embedding an empty data set")
	}
	return tensor.FromSlice(feats, ds.N, d), nil
}

// EmbedBatch returns the features (host tensor [N, D]) of a host batch of
// images x [N, C, H, W], computed by m in evaluation mode without gradients.
func EmbedBatch(be kernels.Backend, m nn.Module, x *tensor.Tensor) (*tensor.Tensor, error) {
	return embedBatch(be, m, autograd.NewTape(be), x)
}

// embedBatch is EmbedBatch on the tape tp.
func embedBatch(be kernels.Backend, m nn.Module, tp *autograd.Tape, x *tensor.Tensor) (*tensor.Tensor, error) {
	m.SetTraining(false)
	var out *autograd.Var
	tp.NoGrad(func() { out = m.Forward(tp, autograd.NewVar(be.FromHost(x), false)) })
	h := be.ToHost(out.Value)
	return h, be.Sync()
}

// KNNConfig configures the kNN monitor (Wu et al. 2018), as in the paper's
// protocol: k = 200 neighbours by cosine similarity, votes weighted by
// exp(similarity / Temperature) with Temperature 0.1.
type KNNConfig struct {
	K           int
	Temperature float64
}

// DefaultKNN is k = 200, temperature 0.1.
var DefaultKNN = KNNConfig{K: 200, Temperature: 0.1}

// KNNAccuracy classifies each test feature by the weighted vote of its K
// most similar train features and returns the accuracy in [0, 1]. Features
// are host tensors [N, D]; similarities are computed on be.
func KNNAccuracy(ctx context.Context, be kernels.Backend, c KNNConfig, train *tensor.Tensor, trainLabels []int32,
	test *tensor.Tensor, testLabels []int32, classes int) (float64, error) {
	acc, err := KNNAccuracyByK(ctx, be, []int{c.K}, c.Temperature, train, trainLabels, test, testLabels, classes)
	if err != nil {
		return 0, err
	}
	return acc[0], nil
}

// KNNAccuracyByK is KNNAccuracy at each neighbour count of ks (in any
// order, repeats allowed), with votes weighted by exp(similarity /
// temperature): acc[i] is the accuracy with ks[i] neighbours, the figure
// KNNAccuracy gives for K = ks[i]. The similarities and the nearest
// neighbours are found once, for the largest k.
func KNNAccuracyByK(ctx context.Context, be kernels.Backend, ks []int, temperature float64, train *tensor.Tensor, trainLabels []int32,
	test *tensor.Tensor, testLabels []int32, classes int) ([]float64, error) {
	if len(ks) == 0 {
		return nil, fmt.Errorf("ssl: kNN with no neighbour count")
	}
	for _, k := range ks {
		if k <= 0 {
			return nil, fmt.Errorf("ssl: kNN with k=%d, want k > 0", k)
		}
	}
	if !(temperature > 0) {
		return nil, fmt.Errorf("ssl: kNN with temperature %v, want > 0", temperature)
	}
	if train.Dims() != 2 || test.Dims() != 2 || train.Dim(1) != test.Dim(1) {
		return nil, fmt.Errorf("ssl: kNN features of shapes %v and %v", train.Shape(), test.Shape())
	}
	if len(trainLabels) != train.Dim(0) || len(testLabels) != test.Dim(0) {
		return nil, fmt.Errorf("ssl: kNN with %d/%d labels for %d/%d features", len(trainLabels), len(testLabels), train.Dim(0), test.Dim(0))
	}
	ntr, d := train.Dim(0), train.Dim(1)
	if ntr == 0 {
		return nil, fmt.Errorf("ssl: kNN with no train features")
	}
	// The counts in increasing order (order[i] is the index in ks of the
	// i-th smallest), each capped at the number of train features.
	order := make([]int, len(ks))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ks[order[a]] < ks[order[b]] })
	kmax := min(ks[order[len(order)-1]], ntr)
	trn := be.FromHost(tensor.FromSlice(normalizeRows(train.Data(), d), ntr, d))
	tst := normalizeRows(test.Data(), d)
	const chunk = 256
	workers := max(1, min(runtime.GOMAXPROCS(0), chunk))
	// correct[w][i]: the test rows worker w classified right with ks[i]
	// neighbours.
	correct := make([][]int, workers)
	scratch := make([][]int, workers)
	for w := range scratch {
		scratch[w] = make([]int, 0, kmax)
		correct[w] = make([]int, len(ks))
	}
	for lo := 0; lo < test.Dim(0); lo += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+chunk, test.Dim(0))
		q := be.FromHost(tensor.FromSlice(tst[lo*d:hi*d], hi-lo, d))
		sim := be.Zeros(hi-lo, ntr)
		be.Gemm(false, true, 1, q, trn, 0, sim)
		s := be.ToHost(sim).Data()
		// Rows are classified in parallel, each worker with its own
		// scratch and counts, so the result does not depend on the split.
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				votes := make([]float64, classes)
				for r := w; r < hi-lo; r += workers {
					row := s[r*ntr : (r+1)*ntr]
					clear(votes)
					// The neighbours come largest first: the votes of the
					// first k of them are those of the k nearest.
					next := 0
					for n, j := range topK(scratch[w], row, kmax) {
						l := trainLabels[j]
						if l >= 0 && int(l) < classes {
							votes[l] += math.Exp(float64(row[j]) / temperature)
						}
						for next < len(order) && min(ks[order[next]], ntr) == n+1 {
							if int32(argmax(votes)) == testLabels[lo+r] {
								correct[w][order[next]]++
							}
							next++
						}
					}
				}
			}()
		}
		wg.Wait()
	}
	if err := be.Sync(); err != nil {
		return nil, err
	}
	acc := make([]float64, len(ks))
	for i := range acc {
		total := 0
		for w := range correct {
			total += correct[w][i]
		}
		acc[i] = float64(total) / float64(test.Dim(0))
	}
	return acc, nil
}

// argmax returns the index of the largest value of v, the first on ties.
func argmax(v []float64) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// topK returns, in dst's storage (capacity at least k), the indices of the
// k largest values of v, largest first, ties broken by the smaller index. It
// scans v once with a heap of the k best so far (the worst at its root), so
// most values cost one comparison.
func topK(dst []int, v []float32, k int) []int {
	k = min(k, len(v))
	h := dst[:0]
	// worse reports whether index a ranks below index b.
	worse := func(a, b int) bool { return v[a] < v[b] || (v[a] == v[b] && a > b) }
	down := func(j int) {
		for {
			w := j
			if l := 2*j + 1; l < len(h) && worse(h[l], h[w]) {
				w = l
			}
			if r := 2*j + 2; r < len(h) && worse(h[r], h[w]) {
				w = r
			}
			if w == j {
				return
			}
			h[j], h[w] = h[w], h[j]
			j = w
		}
	}
	for i, x := range v {
		if len(h) < k {
			h = append(h, i)
			for j := len(h) - 1; j > 0; {
				p := (j - 1) / 2
				if !worse(h[j], h[p]) {
					break
				}
				h[j], h[p] = h[p], h[j]
				j = p
			}
			continue
		}
		if k == 0 || x <= v[h[0]] {
			continue // not better than the worst kept (equal: a larger index)
		}
		h[0] = i
		down(0)
	}
	sort.Slice(h, func(a, b int) bool { return worse(h[b], h[a]) })
	return h
}
