package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// sameImages fails unless a and b have the same shape, labels and pixels.
func sameImages(t *testing.T, what string, a, b *Dataset) {
	t.Helper()
	if a.N != b.N || a.C != b.C || a.H != b.H || a.W != b.W || a.NumClasses != b.NumClasses ||
		!slices.Equal(a.ClassNames, b.ClassNames) || !slices.Equal(a.Labels, b.Labels) || !slices.Equal(a.Sizes, b.Sizes) {
		t.Fatalf("%s: N=%d %dx%dx%d classes %v labels %v sizes %v, want N=%d %dx%dx%d classes %v labels %v sizes %v", what,
			a.N, a.C, a.H, a.W, a.ClassNames, a.Labels, a.Sizes, b.N, b.C, b.H, b.W, b.ClassNames, b.Labels, b.Sizes)
	}
	for i := range a.N {
		pa, ha, wa := a.Image(i)
		pb, hb, wb := b.Image(i)
		if ha != hb || wa != wb || !slices.Equal(pa, pb) {
			t.Fatalf("%s: image %d differs (%dx%d, %dx%d)", what, i, ha, wa, hb, wb)
		}
	}
}

// writeFolder writes n random images of h x w pixels per class of classes
// under root (png, every third a jpeg).
func writeFolder(t testing.TB, root string, classes []string, n, h, w int, r *rand.Rand) {
	t.Helper()
	for _, c := range classes {
		for k := range n {
			img := image.NewNRGBA(image.Rect(0, 0, w, h))
			for i := range img.Pix {
				img.Pix[i] = uint8(r.UintN(256))
			}
			ext := ".png"
			if k%3 == 2 {
				ext = ".jpg"
			}
			path := filepath.Join(root, c, fmt.Sprintf("%04d%s", k, ext))
			if err := encodeImageFile(path, img); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// encodeImageFile writes img to path as png or jpeg (quality 90), as its
// extension says, making the directory.
func encodeImageFile(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	var err error
	if strings.EqualFold(filepath.Ext(path), ".png") {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	}
	if err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func TestStreamedFolderMatchesMemory(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	root := t.TempDir()
	writeFolder(t, root, []string{"b", "a", "c"}, 5, 6, 9, r)
	writePNG(t, filepath.Join(root, "a", "odd.png"), 7, 4, r) // another size
	for _, opt := range []FolderOptions{{}, {Height: 5, Width: 5}, {Height: 4, Width: 6, Gray: true}} {
		mem, err := LoadImageFolder(root, opt)
		must(t, err)
		if mem.Streamed() {
			t.Fatal("streamed without Stream")
		}
		for _, cache := range []int64{0, -1, 200} {
			sopt := opt
			sopt.Stream, sopt.CacheBytes, sopt.Workers = true, cache, 2
			st, err := LoadImageFolder(root, sopt)
			must(t, err)
			what := fmt.Sprintf("%+v", sopt)
			if !st.Streamed() || len(st.Pixels) != 0 {
				t.Fatalf("%s: not streamed", what)
			}
			must(t, st.Validate())
			sameImages(t, what, st, mem)
			sameImages(t, what+" again", st, mem) // from the cache
			// Subsets stay streamed and index the same images.
			idx := []int{15, 0, 3, 3, 7}
			sub := st.Subset(idx)
			if !sub.Streamed() {
				t.Fatalf("%s: subset not streamed", what)
			}
			must(t, sub.Validate())
			sameImages(t, what+" subset", sub, mem.Subset(idx))
			sameImages(t, what+" subset of subset", sub.Subset([]int{4, 1}), mem.Subset([]int{7, 0}))
			k1, h1 := HoldOut(st, 4, 3)
			k2, h2 := HoldOut(mem, 4, 3)
			sameImages(t, what+" kept", k1, k2)
			sameImages(t, what+" held", h1, h2)
			sameImages(t, what+" first", FirstN(st, 6), FirstN(mem, 6))
			cs, err := Concat(st, mem, sub)
			must(t, err)
			cm, err := Concat(mem, mem, mem.Subset(idx))
			must(t, err)
			if !cs.Streamed() {
				t.Fatalf("%s: concat not streamed", what)
			}
			must(t, cs.Validate())
			sameImages(t, what+" concat", cs, cm)
			if a, b := MeanStd(st), MeanStd(mem); !slices.Equal(a.Mean, b.Mean) || !slices.Equal(a.Std, b.Std) {
				t.Fatalf("%s: MeanStd %+v, in memory %+v", what, a, b)
			}
		}
	}
}

func TestStreamRule(t *testing.T) {
	r := rand.New(rand.NewPCG(83, 84))
	root := t.TempDir()
	writeFolder(t, root, []string{"a", "b"}, 2, 4, 4, r)
	// 4 files x 3 x 8 x 8 = 768 bytes decoded.
	for _, tc := range []struct {
		opt  FolderOptions
		want bool
	}{
		{FolderOptions{Height: 8, Width: 8}, false},
		{FolderOptions{Height: 8, Width: 8, StreamAbove: 767}, true},
		{FolderOptions{Height: 8, Width: 8, StreamAbove: 768}, false},
		{FolderOptions{Height: 8, Width: 8, StreamAbove: 255, Gray: true}, true},
		{FolderOptions{Height: 8, Width: 8, StreamAbove: -1}, false},
		{FolderOptions{StreamAbove: 1}, false}, // no size: no estimate
		{FolderOptions{Stream: true, StreamAbove: -1}, true},
	} {
		d, err := LoadImageFolder(root, tc.opt)
		must(t, err)
		if d.Streamed() != tc.want {
			t.Errorf("%+v: streamed %v, want %v", tc.opt, d.Streamed(), tc.want)
		}
	}
}

// TestStreamedLargerThanCache loads every batch of two epochs from a folder
// four times the size of its decode cache, as the loader reads the folder in
// memory.
func TestStreamedLargerThanCache(t *testing.T) {
	r := rand.New(rand.NewPCG(85, 86))
	root := t.TempDir()
	writeFolder(t, root, []string{"a", "b", "c"}, 100, 64, 64, r)
	const cache = 1 << 20
	st, err := LoadImageFolder(root, FolderOptions{Stream: true, CacheBytes: cache, Height: 64, Width: 64})
	must(t, err)
	mem, err := LoadImageFolder(root, FolderOptions{})
	must(t, err)
	if st.N != 300 || int64(st.N*st.C*st.H*st.W) < 3*cache {
		t.Fatalf("%d images of %dx%dx%d", st.N, st.C, st.H, st.W)
	}
	views := []Transform{NewRandomResizedCrop(32, [2]float64{0.2, 1}), NewRandomResizedCrop(32, [2]float64{0.5, 1})}
	opt := LoaderOptions{BatchSize: 32, Views: views, Seed: 5, Shuffle: true, Epochs: 2, Workers: 3}
	ls, err := NewLoader(context.Background(), st, opt)
	must(t, err)
	defer ls.Close()
	lm, err := NewLoader(context.Background(), mem, opt)
	must(t, err)
	defer lm.Close()
	got, want := collect(t, ls), collect(t, lm)
	if len(got) != 2*10 || len(got) != len(want) {
		t.Fatalf("%d batches, in memory %d", len(got), len(want))
	}
	for k := range got {
		if !batchesEqual(got[k], want[k]) {
			t.Fatalf("batch %d (epoch %d, step %d) differs from the folder in memory", k, got[k].Epoch, got[k].Step)
		}
	}
	used, n := st.src.(*folderSource).cache.bytes()
	if used > cache || n == 0 || n >= st.N {
		t.Errorf("the cache holds %d images in %d bytes (max %d)", n, used, cache)
	}
}

// TestStreamedConcurrent reads a streamed set from many goroutines through a
// cache of a few images (run it with -race).
func TestStreamedConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(87, 88))
	root := t.TempDir()
	writeFolder(t, root, []string{"a", "b"}, 12, 8, 8, r)
	mem, err := LoadImageFolder(root, FolderOptions{})
	must(t, err)
	st, err := LoadImageFolder(root, FolderOptions{Stream: true, CacheBytes: 5 * (3*64 + cacheOverhead)})
	must(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rg := rand.New(rand.NewPCG(uint64(g), 89))
			var held [][]uint8
			var heldIdx []int
			for range 300 {
				i := rg.IntN(st.N)
				pix, _, _, err := st.ImageErr(i)
				if err != nil {
					errs <- err
					return
				}
				want, _, _ := mem.Image(i)
				if !slices.Equal(pix, want) {
					errs <- fmt.Errorf("image %d differs", i)
					return
				}
				held, heldIdx = append(held, pix), append(heldIdx, i)
			}
			// The slices stay valid after their images left the cache.
			for k, pix := range held {
				if want, _, _ := mem.Image(heldIdx[k]); !slices.Equal(pix, want) {
					errs <- fmt.Errorf("image %d changed after it was returned", heldIdx[k])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if used, n := st.src.(*folderSource).cache.bytes(); n > 5 || used > 5*(3*64+cacheOverhead) {
		t.Errorf("cache holds %d images, %d bytes", n, used)
	}
}

func TestDecodeCacheLRU(t *testing.T) {
	c := newDecodeCache(3 * (10 + cacheOverhead))
	for i := range 3 {
		c.put(i, make([]uint8, 10), 1, 10)
	}
	c.get(0)                           // 1 is now the least recently used
	c.put(3, make([]uint8, 10), 1, 10) // evicts 1
	for i, want := range []bool{true, false, true, true} {
		if _, ok := c.get(i); ok != want {
			t.Errorf("image %d cached %v, want %v", i, ok, want)
		}
	}
	c.put(9, make([]uint8, 1000), 1, 1000) // larger than the cache: not kept
	if _, ok := c.get(9); ok {
		t.Error("an image larger than the cache was kept")
	}
	if used, n := c.bytes(); n != 3 || used != 3*(10+cacheOverhead) {
		t.Errorf("%d images, %d bytes", n, used)
	}
	var none *decodeCache = newDecodeCache(-1)
	none.put(1, nil, 0, 0)
	if _, ok := none.get(1); ok || none != nil {
		t.Error("a negative size caches")
	}
}

// TestStreamedMissingFile removes and corrupts files after the folder is
// listed: the loader, ForImages and ImageErr return errors naming them,
// Image panics with it.
func TestStreamedMissingFile(t *testing.T) {
	r := rand.New(rand.NewPCG(90, 91))
	root := t.TempDir()
	writeFolder(t, root, []string{"a", "b"}, 10, 8, 8, r)
	st, err := LoadImageFolder(root, FolderOptions{Stream: true, CacheBytes: -1})
	must(t, err)
	gone := filepath.Join(root, "b", "0004.png")
	must(t, os.Remove(gone))
	bad := filepath.Join(root, "a", "0001.png")
	must(t, os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\n garbage"), 0o644))

	l, err := NewLoader(context.Background(), st, LoaderOptions{BatchSize: 4, Views: []Transform{nil}, Epochs: 1, Workers: 2})
	must(t, err)
	defer l.Close()
	var lerr error
	batches := 0
	for {
		b, err := l.Next()
		if err != nil {
			lerr = err
			break
		}
		batches++
		l.Recycle(b)
	}
	if lerr == io.EOF || !strings.Contains(lerr.Error(), bad) {
		t.Fatalf("loader after %d batches: %v, want an error naming %s", batches, lerr, bad)
	}
	if _, err := l.Next(); err != lerr {
		t.Errorf("the next call: %v, want the same error", err)
	}
	_, _, _, err = st.ImageErr(14)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), gone) {
		t.Errorf("ImageErr of a removed file: %v", err)
	}
	if err := st.ForImages([]int{0, 2, 14, 3}, 2, func(int, []uint8, int, int) error { return nil }); err == nil ||
		!strings.Contains(err.Error(), gone) {
		t.Errorf("ForImages: %v", err)
	}
	func() {
		defer func() {
			if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), gone) {
				t.Errorf("Image of a removed file: panic %v", p)
			}
		}()
		st.Image(14)
	}()
	// The listing refuses them.
	if _, err := LoadImageFolder(root, FolderOptions{Stream: true}); err == nil || !strings.Contains(err.Error(), "cannot decode") {
		t.Errorf("listing a corrupt file: %v", err)
	}
}

func TestOpenFolderStreamed(t *testing.T) {
	r := rand.New(rand.NewPCG(92, 93))
	dir := t.TempDir()
	writeFolder(t, filepath.Join(dir, "train"), []string{"x", "y"}, 6, 10, 12, r)
	writeFolder(t, filepath.Join(dir, "val"), []string{"x", "y"}, 2, 10, 12, r)
	o := OpenOptions{Dir: dir, ImageSize: 8, Val: 3, TrainSubset: 7}
	mem, err := Open("folder", o)
	must(t, err)
	o.Stream, o.CacheBytes = true, 4096
	st, err := Open("folder", o)
	must(t, err)
	if !st.Train.Streamed() || !st.Val.Streamed() || !st.Test.Streamed() {
		t.Fatal("not streamed")
	}
	sameImages(t, "train", st.Train, mem.Train)
	sameImages(t, "val", st.Val, mem.Val)
	sameImages(t, "test", st.Test, mem.Test)
	if !slices.Equal(st.Norm.Mean, mem.Norm.Mean) || !slices.Equal(st.Norm.Std, mem.Norm.Std) {
		t.Errorf("norm %+v, in memory %+v", st.Norm, mem.Norm)
	}
}
