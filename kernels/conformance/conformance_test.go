package conformance

import (
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"

	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// TestReference runs the suite on the reference itself: it must pass, and
// shows the suite runs end to end.
func TestReference(t *testing.T) {
	Run(t, ref.New(), Options{})
}

// TestComposites runs the suite on the reference seen through the core
// alone, so that every capability takes its composite of core methods.
func TestComposites(t *testing.T) {
	Run(t, kernels.CoreOnly(ref.New()), Options{})
}

// buggy is the reference with one deliberate mistake, named by bug.
type buggy struct {
	*ref.Backend
	bug string
}

func (b *buggy) Gemm(ta, tb bool, alpha float32, a, x *tensor.Tensor, beta float32, c *tensor.Tensor) {
	if b.bug == "gemm-reads-c" && beta == 0 {
		beta = math.SmallestNonzeroFloat32 // reads C: its NaNs leak
	}
	b.Backend.Gemm(ta, tb, alpha, a, x, beta, c)
}

func (b *buggy) Fill(v float32, dst *tensor.Tensor) {
	if b.bug == "fill-ignores-view" {
		d := dst.Storage().(*tensor.HostStorage).Data
		for i := range d {
			d[i] = v
		}
		return
	}
	b.Backend.Fill(v, dst)
}

func (b *buggy) Scale(s float32, a, dst *tensor.Tensor) {
	b.Backend.Scale(s, a, dst)
	if b.bug == "scale-writes-input" && a != dst {
		a.Data()[0]++
	}
}

func (b *buggy) BatchNormTrain(p kernels.BNParams, x, gamma, beta, y, saveMean, saveInvstd, runMean, runVar *tensor.Tensor) {
	if b.bug == "bn-skips-invstd" {
		saveInvstd = tensor.Zeros(saveInvstd.Shape()...)
	}
	b.Backend.BatchNormTrain(p, x, gamma, beta, y, saveMean, saveInvstd, runMean, runVar)
}

func (b *buggy) InfoNCE(p kernels.InfoNCEParams, q, k, queue, loss, dq, dk *tensor.Tensor) {
	if b.bug == "infonce-no-twins" {
		p.Twins = false
	}
	b.Backend.InfoNCE(p, q, k, queue, loss, dq, dk)
}

func (b *buggy) HallucinatorBackward(lambda float32, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3 *tensor.Tensor) {
	b.Backend.HallucinatorBackward(lambda, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3)
	if b.bug == "hallu-dk-sign" && dk != nil {
		b.Backend.Scale(-1, dk, dk)
	}
}

func (b *buggy) SGDStep(p kernels.SGDParams, params, grads, bufs []*tensor.Tensor, wd []bool) {
	if b.bug == "sgd-no-nesterov" {
		p.Nesterov = false
	}
	b.Backend.SGDStep(p, params, grads, bufs, wd)
}

func (b *buggy) ScatterAddRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor) {
	if b.bug == "scatter-overwrites" {
		// Writes the last row landing on each row instead of adding.
		d := y.Numel() / y.Dim(0)
		for r, i := range idx {
			copy(y.Data()[int(i)*d:(int(i)+1)*d], x.Data()[r*d:(r+1)*d])
		}
		return
	}
	b.Backend.ScatterAddRows(x, idx, y)
}

func (b *buggy) MaxPool2dBackward(p kernels.PoolParams, x, y, dy, dx *tensor.Tensor) {
	b.Backend.MaxPool2dBackward(p, x, y, dy, dx)
	if b.bug == "maxpool-splits-ties" {
		// Share each window's gradient among all its maxima instead of
		// routing it to the first: recompute, splitting ties.
		splitTies(p, x, y, dy, dx)
	}
}

// splitTies writes dx routing dy evenly to every maximum of each window.
func splitTies(pp kernels.PoolParams, x, y, dy, dx *tensor.Tensor) {
	xs, ys, gs, ds := x.Data(), y.Data(), dy.Data(), dx.Data()
	clear(ds)
	nc, h, w, p, q := x.Dim(0)*x.Dim(1), x.Dim(2), x.Dim(3), y.Dim(2), y.Dim(3)
	for i := 0; i < nc; i++ {
		for a := 0; a < p; a++ {
			for c := 0; c < q; c++ {
				var at []int
				for r := 0; r < pp.KH; r++ {
					for s := 0; s < pp.KW; s++ {
						ih, iw := a*pp.StrideH-pp.PadH+r, c*pp.StrideW-pp.PadW+s
						if ih >= 0 && ih < h && iw >= 0 && iw < w && xs[(i*h+ih)*w+iw] == ys[(i*p+a)*q+c] {
							at = append(at, (i*h+ih)*w+iw)
						}
					}
				}
				for _, j := range at {
					ds[j] += gs[(i*p+a)*q+c] / float32(len(at))
				}
			}
		}
	}
}

// TestBuggy runs the suite on a buggy backend when CONFORMANCE_BUG names a
// bug; TestSuiteCatchesBugs runs it in a child process and expects failure.
func TestBuggy(t *testing.T) {
	bug := os.Getenv("CONFORMANCE_BUG")
	if bug == "" {
		t.Skip("runs only as the child of TestSuiteCatchesBugs")
	}
	Run(t, &buggy{Backend: ref.New(), bug: bug}, Options{})
}

func TestSuiteCatchesBugs(t *testing.T) {
	if os.Getenv("CONFORMANCE_BUG") != "" {
		t.Skip("child process")
	}
	for _, tc := range []struct {
		bug, group, want string
	}{
		{"gemm-reads-c", "Gemm", "relative error +Inf"},
		{"fill-ignores-view", "Memory", "guard element 1 before the view"},
		{"scale-writes-input", "Elementwise", "input element 0 changed"},
		{"bn-skips-invstd", "BatchNormTrain", "saveInvstd"},
		{"infonce-no-twins", "InfoNCE", "twins/"},
		{"hallu-dk-sign", "HallucinatorBackward", "dk [7 5]"},
		{"sgd-no-nesterov", "SGDStep", "nesterov"},
		{"maxpool-splits-ties", "MaxPool2dBackward", "relative error"},
		{"scatter-overwrites", "ScatterAddRows", "relative error"},
	} {
		t.Run(tc.bug, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBuggy$/^"+tc.group+"$")
			cmd.Env = append(os.Environ(), "CONFORMANCE_BUG="+tc.bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a backend with bug %s:\n%s", tc.bug, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBuggy/"+tc.group) || !strings.Contains(string(out), tc.want) {
				t.Fatalf("bug %s: want a failure of %s mentioning %q, got:\n%s", tc.bug, tc.group, tc.want, out)
			}
		})
	}
}
