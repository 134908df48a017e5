package data

import (
	"math"
	"math/rand/v2"
)

// uniform draws from U(lo, hi).
func uniform(rng *rand.Rand, lo, hi float64) float64 {
	return lo + (hi-lo)*rng.Float64()
}

// logGamma draws log X for X ~ Gamma(a, 1) by Marsaglia and Tsang's method;
// for a < 1 it uses Gamma(a) = Gamma(a+1) * U^(1/a) in log space, so that the
// tiny values small shapes produce do not underflow.
func logGamma(rng *rand.Rand, a float64) float64 {
	if a < 1 {
		u := 1 - rng.Float64() // in (0, 1]
		return logGamma(rng, a+1) + math.Log(u)/a
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := 1 - rng.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return math.Log(d * v)
		}
	}
}

// betaSample draws from Beta(a, b) as X / (X + Y) with X ~ Gamma(a) and
// Y ~ Gamma(b), computed from their logarithms.
func betaSample(rng *rand.Rand, a, b float64) float64 {
	lx, ly := logGamma(rng, a), logGamma(rng, b)
	return 1 / (1 + math.Exp(ly-lx))
}

// mix64 is SplitMix64's finaliser: a bijection of 64-bit words that spreads
// every input bit over the output.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// SampleRand returns the generator that draws the augmentations of one view
// of one sample: it depends only on (seed, epoch, index, view), so a run gives
// the same views whatever the number of workers and wherever it resumes.
func SampleRand(seed uint64, epoch, index, view int) *rand.Rand {
	a := mix64(seed ^ mix64(uint64(epoch)+0x5851f42d4c957f2d))
	b := mix64(mix64(a^mix64(uint64(index))) ^ uint64(view))
	return rand.New(rand.NewPCG(a, b))
}

// shuffleRand returns the generator of the sample order of one epoch.
func shuffleRand(seed uint64, epoch int) *rand.Rand {
	a := mix64(seed ^ 0x243f6a8885a308d3)
	return rand.New(rand.NewPCG(a, mix64(a^uint64(epoch))))
}

func sqrtNonNeg(v float64) float64 { return math.Sqrt(max(v, 0)) }
