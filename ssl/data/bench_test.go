package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkSSLView times one pre-training view of one image.
func BenchmarkSSLView(b *testing.B) {
	for _, size := range []int{32, 96} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			src := randBytes(r, 3*size*size)
			norm, _ := NormalizeFor("cifar10")
			p := AnchorView(size, norm, false, 0.25, 0.75, 0.1)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p.ApplyBytes(src, 3, size, size, SampleRand(1, 0, i, 0))
			}
		})
	}
}

// BenchmarkLoader times two-view CIFAR-sized batches of 512.
func BenchmarkLoader(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	d := randDataset(r, 4096, 3, 32, 32, 10)
	norm, _ := NormalizeFor("cifar10")
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			l, err := NewLoader(context.Background(), d, LoaderOptions{BatchSize: 512, Seed: 1, Shuffle: true,
				Views:   []Transform{AnchorView(32, norm, false, 0.25, 0.75, 0.1), SSLView(32, norm, false)},
				Workers: workers})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			for b.Loop() {
				bt, err := l.Next()
				if err != nil {
					b.Fatal(err)
				}
				l.Recycle(bt)
			}
			b.ReportMetric(float64(b.N*512)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
