package cpu

// The backward data pass of a stride-1 convolution is itself a forward
// convolution. With stride 1,
//
//	dx[c, h, w] = sum over k, r, s of dy[k, h+PadH-r, w+PadW-s] * W[k, c, r, s]
//
// and substituting r' = R-1-r, s' = S-1-s,
//
//	dx[c, h, w] = sum over k, r', s' of dy[k, h-(R-1-PadH)+r', w-(S-1-PadW)+s'] * W'[c, k, r', s']
//
// with W'[c, k, r', s'] = W[k, c, R-1-r', S-1-s']: the convolution of dy
// (K channels of P x Q) with the C flipped filters W', padded by R-1-PadH
// and S-1-PadW, whose output is H x W again. It runs on the forward path
// (im2col panels and an SGEMM whose depth is K*R*S), in place of the SGEMM
// of depth K and the scatter-add of col2im.

// flipped returns the geometry of the forward convolution that computes the
// backward data pass of g, and whether there is one: stride 1 and paddings
// PadH <= R-1, PadW <= S-1 (a larger padding would need a negative one).
func (g *convGeom) flipped() (convGeom, bool) {
	if g.sh != 1 || g.sw != 1 || g.ph > g.R-1 || g.pw > g.S-1 {
		return convGeom{}, false
	}
	return convGeom{C: g.K, H: g.P, W: g.Q, K: g.C, R: g.R, S: g.S, P: g.H, Q: g.W,
		sh: 1, sw: 1, ph: g.R - 1 - g.ph, pw: g.S - 1 - g.pw}, true
}

// useFlip reports whether the backward data pass of g, which has a flipped
// geometry, runs on it. Its column matrix has K*R*S rows where col2im's has
// C*R*S: measured, it wins with up to as many filters as channels (every
// stride-1 layer of a ResNet but the stem) and loses with more (a stem seen
// backwards copies many times more). It also needs filters to sum over.
func (b *Backend) useFlip(g *convGeom) bool {
	return !b.paths.noFlip && g.K > 0 && g.K <= g.C
}

// flipFilters writes wf [C, K, R, S] with wf[c, k, r, s] = w[k, c, R-1-r,
// S-1-s] for the geometry g of w [K, C, R, S].
func (b *Backend) flipFilters(g *convGeom, w, wf []float32) {
	rs := g.R * g.S
	krs := g.K * rs
	w, wf = w[:g.K*g.C*rs], wf[:g.C*krs]
	b.parallel(g.C, krs, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			dst := wf[c*krs : (c+1)*krs]
			for k := 0; k < g.K; k++ {
				src := w[(k*g.C+c)*rs : (k*g.C+c+1)*rs]
				d := dst[k*rs : (k+1)*rs]
				for j, v := range src {
					d[rs-1-j] = v
				}
			}
		}
	})
}
