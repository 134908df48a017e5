package data

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"
	"path/filepath"
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

// writeTinyFolder writes n 64x64 images of 10 classes under root in format
// ext (".png" or ".jpg"): smooth colour gradients with noise, about the
// content and file size of Tiny ImageNet's photos.
func writeTinyFolder(b *testing.B, root, ext string, n int) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range n {
		img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
		var base, dx, dy [3]float64
		for c := range 3 {
			base[c], dx[c], dy[c] = r.Float64()*255, r.Float64()*4-2, r.Float64()*4-2
		}
		for y := range 64 {
			for x := range 64 {
				for c := range 3 {
					v := base[c] + dx[c]*float64(x) + dy[c]*float64(y) + r.NormFloat64()*12
					img.Pix[y*img.Stride+4*x+c] = uint8(max(0, min(255, v)))
				}
				img.Pix[y*img.Stride+4*x+3] = 255
			}
		}
		path := filepath.Join(root, fmt.Sprintf("n%02d", i%10), fmt.Sprintf("%05d%s", i, ext))
		if err := encodeImageFile(path, img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFolderLoader times the pre-training loader (anchor and SSL views
// of 64x64 images, batches of 256) over an image folder of 2,048 Tiny
// ImageNet-like files: decoded into memory first ("memory"), streamed with
// every image decoded when read ("stream", no cache: a folder larger than
// RAM), and streamed with a cache holding the whole folder ("cached").
// Beside images/s it reports images per second of the process's CPU time
// (images/cpu-s), which a machine busy with other work changes less. Run it
// with -benchtime=40x or more.
func BenchmarkFolderLoader(b *testing.B) {
	const n, batch = 2048, 256
	norm, _ := NormalizeFor("tiny-imagenet")
	views := []Transform{AnchorView(64, norm, false, 0.15, 0.85, 0.1), SSLView(64, norm, false)}
	for _, format := range []string{"jpeg", "png"} {
		root := b.TempDir()
		ext := map[string]string{"jpeg": ".jpg", "png": ".png"}[format]
		writeTinyFolder(b, root, ext, n)
		for _, mode := range []string{"memory", "stream", "cached"} {
			opt := FolderOptions{Height: 64, Width: 64, StreamAbove: -1}
			switch mode {
			case "stream":
				opt.Stream, opt.CacheBytes = true, -1
			case "cached":
				opt.Stream = true
			}
			d, err := LoadImageFolder(root, opt)
			if err != nil {
				b.Fatal(err)
			}
			for _, workers := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/workers=%d", format, mode, workers), func(b *testing.B) {
					l, err := NewLoader(context.Background(), d, LoaderOptions{BatchSize: batch, Seed: 1, Shuffle: true,
						Views: views, Workers: workers, Prefetch: workers})
					if err != nil {
						b.Fatal(err)
					}
					defer l.Close()
					{ // one epoch fills the cache, and the queue
						for range n / batch {
							bt, err := l.Next()
							if err != nil {
								b.Fatal(err)
							}
							l.Recycle(bt)
						}
						b.ResetTimer()
					}
					// The workers prepare a batch each ahead: with
					// -benchtime=40x those are 5% of the images timed.
					cpu0 := cpuTime()
					for b.Loop() {
						bt, err := l.Next()
						if err != nil {
							b.Fatal(err)
						}
						l.Recycle(bt)
					}
					b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
					if cpu := cpuTime() - cpu0; cpu > 0 {
						b.ReportMetric(float64(b.N*batch)/cpu.Seconds(), "images/cpu-s")
					}
				})
			}
		}
	}
}
