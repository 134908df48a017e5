package ssl

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// MeanRowCosine returns the mean over rows of the cosine similarity of a
// and b, both [N, D] on backend be (copied to the host).
func MeanRowCosine(be kernels.Backend, a, b *tensor.Tensor) float64 {
	ah, bh := be.ToHost(a).Data(), be.ToHost(b).Data()
	n, d := a.Dim(0), a.Dim(1)
	if n == 0 {
		return 0
	}
	var sum float64
	for i := 0; i < n; i++ {
		sum += cosine(ah[i*d:(i+1)*d], bh[i*d:(i+1)*d])
	}
	return sum / float64(n)
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for j := range a {
		ab += float64(a[j]) * float64(b[j])
		aa += float64(a[j]) * float64(a[j])
		bb += float64(b[j]) * float64(b[j])
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// normalizeRows returns a copy of the rows of x [N*d] scaled to unit norm.
func normalizeRows(x []float32, d int) []float32 {
	out := make([]float32, len(x))
	for i := 0; i+d <= len(x); i += d {
		var s float64
		for _, v := range x[i : i+d] {
			s += float64(v) * float64(v)
		}
		inv := 1 / math.Max(math.Sqrt(s), 1e-12)
		for j, v := range x[i : i+d] {
			out[i+j] = float32(float64(v) * inv)
		}
	}
	return out
}

// Alignment is Wang & Isola's (2020) alignment of positive pairs:
// E ||f(x) - f(y)||^alpha over rows of the normalised embeddings a and b
// [N*d] (alpha 2 in the paper). Lower is better.
func Alignment(a, b []float32, d int, alpha float64) (float64, error) {
	if d <= 0 || len(a) != len(b) || len(a)%d != 0 || len(a) == 0 {
		return 0, fmt.Errorf("ssl: alignment of %d and %d values with dimension %d", len(a), len(b), d)
	}
	an, bn := normalizeRows(a, d), normalizeRows(b, d)
	n := len(a) / d
	var sum float64
	for i := 0; i < n; i++ {
		var s float64
		for j := 0; j < d; j++ {
			v := float64(an[i*d+j] - bn[i*d+j])
			s += v * v
		}
		sum += math.Pow(math.Sqrt(s), alpha)
	}
	return sum / float64(n), nil
}

// Uniformity is Wang & Isola's (2020) uniformity of the normalised
// embeddings x [N*d]: log E exp(-t ||f(x) - f(y)||^2) over distinct pairs (t
// 2 in the paper). Lower (more negative) is more uniform.
func Uniformity(x []float32, d int, t float64) (float64, error) {
	if d <= 0 || len(x)%d != 0 || len(x) < 2*d {
		return 0, fmt.Errorf("ssl: uniformity needs at least two rows of dimension %d, got %d values", d, len(x))
	}
	xn := normalizeRows(x, d)
	n := len(x) / d
	// Squared distances of unit vectors lie in [0, 4], so exp(-t*sq) stays
	// representable for the t of interest: sum directly.
	var sum float64
	pairs := 0
	for i := 0; i < n; i++ {
		for k := i + 1; k < n; k++ {
			var dot float64
			for j := 0; j < d; j++ {
				dot += float64(xn[i*d+j]) * float64(xn[k*d+j])
			}
			sum += math.Exp(-t * math.Max(2-2*dot, 0))
			pairs++
		}
	}
	return math.Log(sum / float64(pairs)), nil
}

// EffectiveRank is RankMe (Garrido et al. 2023), the effective rank of the
// embeddings x [N*d]: exp of the entropy of their singular values
// sigma_k scaled to sum to one, p_k = sigma_k / sum(sigma) + 1e-7. It lies
// between 1 (every row on one line) and min(N, d) (all singular values
// equal). The embeddings are not centred, as in the paper. A
// low rank beside a good linear probe means that a few directions dominate
// the features' cosines (see the README's Fashion-MNIST figures).
func EffectiveRank(x []float32, d int) (float64, error) {
	if d <= 0 || len(x)%d != 0 || len(x) == 0 {
		return 0, fmt.Errorf("ssl: effective rank of %d values with dimension %d", len(x), d)
	}
	n := len(x) / d
	// The singular values are the square roots of the eigenvalues of the
	// d x d Gram matrix, accumulated in float64.
	rows := make([]float64, len(x))
	for i, v := range x {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("ssl: effective rank: value %v at row %d, column %d", v, i/d, i%d)
		}
		rows[i] = f
	}
	g := mat.NewSymDense(d, nil)
	g.SymOuterK(1, mat.NewDense(n, d, rows).T())
	var eig mat.EigenSym
	if !eig.Factorize(g, false) {
		return 0, fmt.Errorf("ssl: effective rank: the eigen decomposition of the %dx%d Gram matrix did not converge", d, d)
	}
	// Ascending; an N x d matrix has min(N, d) singular values.
	sv := eig.Values(nil)
	sv = sv[len(sv)-min(n, d):]
	var total float64
	for i, l := range sv {
		sv[i] = math.Sqrt(math.Max(l, 0))
		total += sv[i]
	}
	if total == 0 {
		return 0, fmt.Errorf("ssl: effective rank of all-zero embeddings")
	}
	var h float64
	for _, s := range sv {
		p := s/total + 1e-7
		h -= p * math.Log(p)
	}
	return math.Exp(h), nil
}
