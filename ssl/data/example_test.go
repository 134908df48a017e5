package data_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"hallucinator/ssl/data"
)

// Reading CIFAR-10's binary format: records of a label byte and three
// 32 x 32 colour planes.
func ExampleLoadCIFAR10() {
	dir, _ := os.MkdirTemp("", "cifar")
	defer os.RemoveAll(dir)
	var file []byte
	for label := range 3 {
		record := make([]byte, 1+3*32*32)
		record[0] = byte(label)
		record[1] = 200 // red, top-left pixel
		file = append(file, record...)
	}
	os.WriteFile(filepath.Join(dir, "test_batch.bin"), file, 0o644)

	d, err := data.LoadCIFAR10(dir, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	pix, h, w := d.Image(2)
	fmt.Printf("%d images of %dx%dx%d, %d classes\n", d.N, d.C, h, w, d.NumClasses)
	fmt.Println("image 2:", d.ClassNames[d.Labels[2]], "top-left red", pix[0])

	// A truncated file is an error naming the file and the offset.
	os.WriteFile(filepath.Join(dir, "test_batch.bin"), file[:5000], 0o644)
	_, err = data.LoadCIFAR10(dir, false)
	fmt.Println(err != nil)
	// Output:
	// 3 images of 3x32x32, 10 classes
	// image 2: bird top-left red 200
	// true
}

// Fashion-MNIST, from the directory that Debian's dataset-fashion-mnist
// package fills (or $FASHION_MNIST_DIR).
func ExampleLoadFashionMNIST() {
	d, err := data.LoadFashionMNIST(data.FashionMNISTDir(), false)
	if err != nil {
		fmt.Println("Fashion-MNIST is not installed")
		return
	}
	fmt.Println(d.N, d.C, d.H, d.W, d.ClassNames[9])
}

// The paper's two pre-training views of a CIFAR image: the anchor view's
// crop is centred in the middle half of the image, the other is free.
func ExampleAnchorView() {
	norm, _ := data.NormalizeFor("cifar10")
	anchor := data.AnchorView(32, norm, false, 0.25, 0.75, 0.1)
	other := data.SSLView(32, norm, false)
	if _, _, _, err := anchor.OutShape(3, 32, 32); err != nil {
		fmt.Println(err)
		return
	}
	src := make([]uint8, 3*32*32)
	for i := range src {
		src[i] = uint8(i * 7)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	a := anchor.ApplyBytes(src, 3, 32, 32, rng)
	b := other.ApplyBytes(src, 3, 32, 32, rng)
	fmt.Println(a.C, a.H, a.W, b.C, b.H, b.W)
	// Output: 3 32 32 3 32 32
}

// A two-view loader over an in-memory data set, one epoch.
func ExampleLoader() {
	d := &data.Dataset{N: 10, C: 3, H: 8, W: 8, Pixels: make([]uint8, 10*3*8*8),
		Labels: []int32{0, 1, 2, 0, 1, 2, 0, 1, 2, 0}, NumClasses: 3}
	for i := range d.Pixels {
		d.Pixels[i] = uint8(i)
	}
	norm, _ := data.NormalizeFor("cifar10")
	l, err := data.NewLoader(context.Background(), d, data.LoaderOptions{
		BatchSize: 4,
		Views:     []data.Transform{data.SSLView(6, norm, false), data.SSLView(6, norm, false)},
		Seed:      1,
		Shuffle:   true,
		Workers:   2,
		Epochs:    1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	for {
		b, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("epoch %d step %d: %d images, %d views of %d floats\n", b.Epoch, b.Step, b.N, len(b.Views), len(b.Views[0]))
		l.Recycle(b)
	}
	// Output:
	// epoch 0 step 0: 4 images, 2 views of 432 floats
	// epoch 0 step 1: 4 images, 2 views of 432 floats
	// epoch 0 step 2: 2 images, 2 views of 216 floats
}
