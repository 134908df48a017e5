package ref

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// NormEps is the clamp of the row norms InfoNCE divides by: rows are
// normalised as x / max(||x||, NormEps), as torch.nn.functional.normalize
// does.
const NormEps = 1e-12

// normRows returns the rows of x [m, d] divided by their norms clamped to
// NormEps, in float64, and the clamped norms.
func normRows(x []float32, m, d int) (y, norms []float64) {
	y, norms = make([]float64, m*d), make([]float64, m)
	for i := 0; i < m; i++ {
		row := x[i*d : (i+1)*d]
		nrm := math.Max(math.Sqrt(sumSquares(row)), NormEps)
		for j, v := range row {
			y[i*d+j] = float64(v) / nrm
		}
		norms[i] = nrm
	}
	return y, norms
}

// normRowsBackward writes to dx [m, d] the gradient w.r.t. the raw rows of
// the gradient g w.r.t. the normalised rows y: (g - y<y,g>)/norm, or g/norm
// for rows whose norm was clamped.
func normRowsBackward(y, norms, g []float64, d int, dx []float32) {
	for i, nrm := range norms {
		yr, gr := y[i*d:(i+1)*d], g[i*d:(i+1)*d]
		var dot float64
		if nrm > NormEps {
			for j, v := range yr {
				dot += v * gr[j]
			}
		}
		for j, v := range yr {
			dx[i*d+j] = float32((gr[j] - v*dot) / nrm)
		}
	}
}

// InfoNCE is the fused contrastive loss of kernels.InfoNCEParams: q [A, D]
// and k [B, D] are L2-normalised (see NormEps), queue [Q, D] (or nil) is
// used as it is; for anchor i the logits are the cosine similarities over
// Temperature against its positive key Pos[i], then, with InBatchNegatives,
// every other key j except j == Self[i] and, with Twins, except keys with
// KeyID[j] == AnchorID[i], then every queue row. loss [1] is the mean over
// anchors of -log softmax at the positive. dq [A, D] and dk [B, D] (each may
// be nil) receive the gradients w.r.t. the raw q and k. q and k may be the
// same tensor; dq and dk must then be different tensors.
func (*Backend) InfoNCE(p kernels.InfoNCEParams, q, k, queue, loss, dq, dk *tensor.Tensor) {
	const op = "InfoNCE"
	dims(op, "q", q, 2)
	dims(op, "k", k, 2)
	na, d, nb := q.Dim(0), q.Dim(1), k.Dim(0)
	kernels.CheckShape(name, op, "k", k, nb, d)
	kernels.CheckShape(name, op, "loss", loss, 1)
	p.Check(name, na, nb)
	var nq int
	var qu []float32
	if queue != nil {
		dims(op, "queue", queue, 2)
		nq = queue.Dim(0)
		kernels.CheckShape(name, op, "queue", queue, nq, d)
		qu = host(op, "queue", queue)
	}
	if dq != nil && dq == dk {
		kernels.Panicf(name, "%s: dq and dk are the same tensor", op)
	}
	var dqs, dks []float32
	if dq != nil {
		kernels.CheckShape(name, op, "dq", dq, na, d)
		dqs = host(op, "dq", dq)
	}
	if dk != nil {
		kernels.CheckShape(name, op, "dk", dk, nb, d)
		dks = host(op, "dk", dk)
	}
	qn, qnorm := normRows(host(op, "q", q), na, d)
	kn, knorm := normRows(host(op, "k", k), nb, d)
	quf := make([]float64, len(qu))
	for i, v := range qu {
		quf[i] = float64(v)
	}
	var gq, gk []float64 // gradients w.r.t. the normalised rows
	if dqs != nil {
		gq = make([]float64, na*d)
	}
	if dks != nil {
		gk = make([]float64, nb*d)
	}
	invT := 1 / float64(p.Temperature)
	keys := make([]int, 0, nb)          // key columns of the current anchor, positive first
	logits := make([]float64, 0, nb+nq) // its logits: keys, then queue rows
	var total float64
	for i := 0; i < na; i++ {
		pos := int(p.Pos[i])
		keys = append(keys[:0], pos)
		if p.InBatchNegatives {
			self := -1
			if p.Self != nil {
				self = int(p.Self[i])
			}
			for j := 0; j < nb; j++ {
				if j == pos || j == self || (p.Twins && p.KeyID[j] == p.AnchorID[i]) {
					continue
				}
				keys = append(keys, j)
			}
		}
		qi := qn[i*d : (i+1)*d]
		logits = logits[:0]
		for _, j := range keys {
			logits = append(logits, dot(qi, kn[j*d:(j+1)*d])*invT)
		}
		for r := 0; r < nq; r++ {
			logits = append(logits, dot(qi, quf[r*d:(r+1)*d])*invT)
		}
		mx := math.Inf(-1)
		for _, v := range logits {
			mx = math.Max(mx, v)
		}
		var z float64
		for _, v := range logits {
			z += math.Exp(v - mx)
		}
		lse := mx + math.Log(z)
		total += lse - logits[0]
		if gq == nil && gk == nil {
			continue
		}
		for c, v := range logits {
			g := math.Exp(v - lse)
			if c == 0 {
				g--
			}
			g *= invT / float64(na) // d loss / d (q_i . col), the 1/T included
			var col []float64
			if c < len(keys) {
				j := keys[c]
				col = kn[j*d : (j+1)*d]
				if gk != nil {
					gj := gk[j*d : (j+1)*d]
					for t, v := range qi {
						gj[t] += g * v
					}
				}
			} else {
				r := c - len(keys)
				col = quf[r*d : (r+1)*d]
			}
			if gq != nil {
				gi := gq[i*d : (i+1)*d]
				for t, v := range col {
					gi[t] += g * v
				}
			}
		}
	}
	host(op, "loss", loss)[0] = float32(total / float64(na))
	if gq != nil {
		normRowsBackward(qn, qnorm, gq, d, dqs)
	}
	if gk != nil {
		normRowsBackward(kn, knorm, gk, d, dks)
	}
}
