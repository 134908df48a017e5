package cpu

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// infoNCEEps clamps the norms of q and k, as in the reference.
const infoNCEEps = 1e-12

// infoNCEBlock is the largest number of logits held at once: the anchors
// are processed in row blocks so that the [A, B+Q] similarity matrix is
// never built whole when the queue is long.
const infoNCEBlock = 1 << 21

// InfoNCE computes the fused contrastive loss of kernels.InfoNCEParams and
// its gradients. Per block of anchor rows: S = qn [kn; queue]^T / T by
// SGEMM, a parallel masked softmax over the rows of S that turns it into
// G = d loss / d (qn kn^T), then dqn += G [kn; queue] and dkn += G^T qn by
// SGEMM; finally the gradients go back through the row normalisation.
func (b *Backend) InfoNCE(p kernels.InfoNCEParams, q, k, queue, loss, dq, dk *tensor.Tensor) {
	const op = "InfoNCE"
	na, d := matrix(op, "q", q)
	nb, _ := matrix(op, "k", k)
	kernels.CheckShape(name, op, "k", k, nb, d)
	kernels.CheckShape(name, op, "loss", loss, 1)
	p.Check(name, na, nb)
	var nq int
	var qu []float32
	if queue != nil {
		nq, _ = matrix(op, "queue", queue)
		kernels.CheckShape(name, op, "queue", queue, nq, d)
		qu = data(op, queue)
	}
	if dq != nil && dq == dk {
		kernels.Panicf(name, "%s: dq and dk are the same tensor", op)
	}
	var dqd, dkd []float32
	if dq != nil {
		kernels.CheckShape(name, op, "dq", dq, na, d)
		dqd = data(op, dq)
	}
	if dk != nil {
		kernels.CheckShape(name, op, "dk", dk, nb, d)
		dkd = data(op, dk)
	}
	grads := dqd != nil || dkd != nil
	if na == 0 {
		data(op, loss)[0] = float32(math.NaN())
		return
	}

	// Normalised rows and their norms.
	qn, kn := b.scratch(na*d), b.scratch(nb*d)
	defer b.release(qn)
	defer b.release(kn)
	qnorm, knorm := make([]float32, na), make([]float32, nb)
	qd, kd := data(op, q), data(op, k)
	b.parallel(na, 3*d, func(lo, hi int) { normalizeRows(qd, qn, d, lo, hi, infoNCEEps, qnorm) })
	b.parallel(nb, 3*d, func(lo, hi int) { normalizeRows(kd, kn, d, lo, hi, infoNCEEps, knorm) })

	var gq, gk []float32 // gradients w.r.t. qn, kn
	if dqd != nil {
		gq = b.scratch(na * d)
		defer b.release(gq)
	}
	if dkd != nil {
		gk = b.scratch(nb * d)
		defer b.release(gk)
	}

	cols := nb + nq
	ab := max(1, min(na, infoNCEBlock/max(cols, 1)))
	s := b.scratch(ab * cols)
	defer b.release(s)
	rowLoss := make([]float64, na)
	invT := 1 / p.Temperature
	scale := float64(invT) / float64(na)
	for i0 := 0; i0 < na; i0 += ab {
		m := min(ab, na-i0)
		qb := qn[i0*d:]
		b.sgemm(false, true, m, nb, d, invT, qb, d, kn, d, 0, s, cols)
		if nq > 0 {
			b.sgemm(false, true, m, nq, d, invT, qb, d, qu, d, 0, s[nb:], cols)
		}
		b.parallel(m, 4*cols, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				rowLoss[i0+r] = infoNCERow(&p, i0+r, nb, s[r*cols:(r+1)*cols], grads, scale)
			}
		})
		if !grads {
			continue
		}
		if gq != nil {
			b.sgemm(false, false, m, d, nb, 1, s, cols, kn, d, 0, gq[i0*d:], d)
			if nq > 0 {
				b.sgemm(false, false, m, d, nq, 1, s[nb:], cols, qu, d, 1, gq[i0*d:], d)
			}
		}
		if gk != nil {
			beta := float32(1)
			if i0 == 0 {
				beta = 0
			}
			b.sgemm(true, false, nb, d, m, 1, s, cols, qb, d, beta, gk, d)
		}
	}
	var total float64
	for _, v := range rowLoss {
		total += v
	}
	data(op, loss)[0] = float32(total / float64(na))
	if gq != nil {
		b.parallel(na, 3*d, func(lo, hi int) { normalizeRowsBackward(qn, gq, dqd, d, lo, hi, infoNCEEps, qnorm) })
	}
	if gk != nil {
		b.parallel(nb, 3*d, func(lo, hi int) { normalizeRowsBackward(kn, gk, dkd, d, lo, hi, infoNCEEps, knorm) })
	}
}

// infoNCERow computes the loss of anchor i from its logits row (nb keys then
// the queue) and, when grads is set, overwrites the row with the gradient of
// the mean loss w.r.t. the cosine similarities, scale = 1/(T*A) included;
// excluded keys get 0.
func infoNCERow(p *kernels.InfoNCEParams, i, nb int, row []float32, grads bool, scale float64) float64 {
	pos := int(p.Pos[i])
	self := -1
	if p.Self != nil {
		self = int(p.Self[i])
	}
	var aid int32
	if p.Twins {
		aid = p.AnchorID[i]
	}
	excluded := func(j int) bool {
		return j != pos && (!p.InBatchNegatives || j == self || (p.Twins && p.KeyID[j] == aid))
	}
	posLogit := float64(row[pos])
	mx := math.Inf(-1)
	for j, v := range row {
		if j < nb && excluded(j) {
			continue
		}
		mx = math.Max(mx, float64(v))
	}
	// The exponentials are kept in the row (excluded keys as 0) for the
	// gradient.
	var z float64
	for j, v := range row {
		if j < nb && excluded(j) {
			row[j] = 0
			continue
		}
		e := math.Exp(float64(v) - mx)
		z += e
		row[j] = float32(e)
	}
	loss := mx + math.Log(z) - posLogit
	if !grads {
		return loss
	}
	k := scale / z
	pe := float64(row[pos])
	for j, e := range row {
		row[j] = float32(float64(e) * k)
	}
	row[pos] = float32((pe/z - 1) * scale)
	return loss
}
