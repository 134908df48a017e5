package ssl

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hallucinator/kernels/cpu/ref"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// TestTrainStreamedFolder trains on an image folder streamed through a
// decode cache of a few images, with the losses of the same folder in
// memory, and evaluates it with FillBatch; a file removed after the folder
// was listed is an error of FillBatch and of RunEpoch.
func TestTrainStreamedFolder(t *testing.T) {
	root := t.TempDir()
	src := twoViewData(24)
	for i := range src.N {
		img := image.NewGray(image.Rect(0, 0, 12, 12))
		pix, _, _ := src.Image(i)
		copy(img.Pix, pix)
		path := filepath.Join(root, fmt.Sprint(src.Labels[i]), fmt.Sprintf("%02d.png", i))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	mem, err := data.LoadImageFolder(root, data.FolderOptions{Gray: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := data.LoadImageFolder(root, data.FolderOptions{Gray: true, Stream: true, CacheBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Streamed() || mem.Streamed() {
		t.Fatal("streamed or not as asked")
	}
	train := func(ds *data.Dataset) ([]float64, error) {
		be := ref.New()
		f, err := New(be, tensor.NewRand(11), tinyConfig("simclr", false))
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(be, f, ds, tinyTrainConfig())
		if err != nil {
			t.Fatal(err)
		}
		var losses []float64
		err = tr.RunEpoch(context.Background(), func(s StepInfo) { losses = append(losses, s.Loss) })
		return losses, err
	}
	lm, err := train(mem)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := train(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) == 0 || !slices.Equal(ls, lm) {
		t.Fatalf("losses streamed %v, in memory %v", ls, lm)
	}

	norm := data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}}
	idx := []int{3, 0, 23, 7}
	bm, bs := make([]float32, 4*144), make([]float32, 4*144)
	if err := FillBatch(mem, norm, idx, bm); err != nil {
		t.Fatal(err)
	}
	if err := FillBatch(st, norm, idx, bs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bm, bs) {
		t.Fatal("FillBatch of the streamed folder differs")
	}

	// Listed, then removed: class 1's files (07.png is image 15, the
	// fourth of class 1), half of every batch.
	st, err = data.LoadImageFolder(root, data.FolderOptions{Gray: true, Stream: true, CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "1")); err != nil {
		t.Fatal(err)
	}
	if err := FillBatch(st, norm, []int{0, 15}, bs[:2*144]); err == nil || !strings.Contains(err.Error(), "07.png") {
		t.Errorf("FillBatch: %v, want an error naming 07.png", err)
	}
	if _, err := train(st); err == nil || !strings.Contains(err.Error(), filepath.Join(root, "1")+string(filepath.Separator)) {
		t.Errorf("RunEpoch: %v, want an error naming a file of %s", err, filepath.Join(root, "1"))
	}
}
