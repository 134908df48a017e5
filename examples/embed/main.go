// Command embed uses an encoder trained by cmd/train as a library user
// would: it loads the checkpoint (or an encoder exported by "train
// export") with ssl.LoadEncoder, embeds labelled images and reports the
// kNN accuracy of the features (ssl.KNNAccuracy).
//
// The images are either a folder of PNG and JPEG files, one subfolder per
// class under train/ and val/ (decoded into image.Image and embedded by
// several goroutines sharing the encoder), or the Fashion-MNIST splits:
//
//	go run ./examples/embed -ckpt runs/simclr-20260101-120000
//	go run ./examples/embed -ckpt encoder.safetensors -images photos/
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"hallucinator/kernels/auto"
	"hallucinator/ssl"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

// labelled are the features of a split and their labels.
type labelled struct {
	feats  *tensor.Tensor
	labels []int32
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ckpt := fs.String("ckpt", "", "checkpoint.safetensors of cmd/train, its run directory, or an exported encoder")
	images := fs.String("images", "", "folder of PNG/JPEG images, train/<class>/ and val/<class>/ (default: Fashion-MNIST)")
	dataDir := fs.String("data", "", "Fashion-MNIST directory (default: the data package's)")
	nTrain := fs.Int("train", 10000, "Fashion-MNIST training images for the kNN's memory bank (0: all)")
	nTest := fs.Int("test", 2000, "Fashion-MNIST test images to classify (0: all)")
	k := fs.Int("k", 200, "neighbours of the kNN")
	temp := fs.Float64("t", 0.1, "temperature of the kNN's votes")
	device := fs.String("device", "auto", "cpu, cuda or auto")
	workers := fs.Int("workers", 4, "goroutines embedding a folder, sharing one encoder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ckpt == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("give the checkpoint with -ckpt and nothing else")
	}
	if st, err := os.Stat(*ckpt); err == nil && st.IsDir() {
		*ckpt = filepath.Join(*ckpt, "checkpoint.safetensors")
	}
	be, err := auto.New(*device)
	if err != nil {
		return err
	}
	defer be.Close()
	enc, err := ssl.LoadEncoder(*ckpt, be)
	if err != nil {
		return err
	}
	i := enc.Info
	fmt.Fprintf(stdout, "%s: %s width %d (%s stem), %d-channel %dx%d images, %d features, on %s\n",
		*ckpt, i.Arch, i.Width, i.Stem, i.InChannels, i.ImageSize, i.ImageSize, i.Features, be.Name())

	start := time.Now()
	var train, test labelled
	classes := 0
	if *images != "" {
		var names []string
		if train, names, err = embedFolder(ctx, enc, filepath.Join(*images, "train"), nil, *workers); err != nil {
			return err
		}
		if test, _, err = embedFolder(ctx, enc, filepath.Join(*images, "val"), names, *workers); err != nil {
			return err
		}
		classes = len(names)
	} else {
		dir := *dataDir
		if dir == "" {
			dir = data.FashionMNISTDir()
		}
		for _, s := range []struct {
			train bool
			n     int
			dst   *labelled
		}{{true, *nTrain, &train}, {false, *nTest, &test}} {
			ds, err := data.LoadFashionMNIST(dir, s.train)
			if err != nil {
				return err
			}
			ds = data.FirstN(ds, s.n)
			f, err := enc.EmbedDataset(ctx, ds)
			if err != nil {
				return err
			}
			*s.dst = labelled{f, ds.Labels}
			classes = ds.NumClasses
		}
	}
	fmt.Fprintf(stdout, "embedded %d + %d images in %.1fs\n", len(train.labels), len(test.labels), time.Since(start).Seconds())
	kk := min(*k, len(train.labels))
	acc, err := ssl.KNNAccuracy(ctx, be, ssl.KNNConfig{K: kk, Temperature: *temp}, train.feats, train.labels, test.feats, test.labels, classes)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kNN accuracy (k=%d, t=%g): %.2f%%\n", kk, *temp, 100*acc)
	return nil
}

// embedFolder decodes the images of dir/<class>/ and embeds them with
// workers goroutines that share enc. classes, when given, fixes the label
// of each class name (a class it lacks is an error); the class names found
// are returned, sorted.
func embedFolder(ctx context.Context, enc *ssl.Encoder, dir string, classes []string, workers int) (labelled, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return labelled{}, nil, err
	}
	if classes == nil {
		for _, e := range entries {
			if e.IsDir() {
				classes = append(classes, e.Name())
			}
		}
		sort.Strings(classes)
	}
	index := map[string]int32{}
	for i, c := range classes {
		index[c] = int32(i)
	}
	var imgs []image.Image
	var labels []int32
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		label, ok := index[e.Name()]
		if !ok {
			return labelled{}, nil, fmt.Errorf("%s: class %q is not among the training classes", dir, e.Name())
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return labelled{}, nil, err
		}
		for _, f := range files {
			ext := strings.ToLower(filepath.Ext(f.Name()))
			if ext != ".png" && ext != ".jpg" && ext != ".jpeg" {
				continue
			}
			img, err := decode(filepath.Join(dir, e.Name(), f.Name()))
			if err != nil {
				return labelled{}, nil, err
			}
			imgs = append(imgs, img)
			labels = append(labels, label)
		}
	}
	if len(imgs) == 0 {
		return labelled{}, nil, fmt.Errorf("%s: no PNG or JPEG images in its class folders", dir)
	}
	feats, err := embedParallel(ctx, enc, imgs, workers)
	return labelled{feats, labels}, classes, err
}

func decode(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// embedParallel splits imgs in chunks that workers goroutines embed with
// the one encoder (an ssl.Encoder is safe for concurrent use).
func embedParallel(ctx context.Context, enc *ssl.Encoder, imgs []image.Image, workers int) (*tensor.Tensor, error) {
	const chunk = 64
	d := enc.Dim()
	out := make([]float32, len(imgs)*d)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range jobs {
				hi := min(lo+chunk, len(imgs))
				f, err := enc.Embed(ctx, imgs[lo:hi])
				if err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					continue
				}
				copy(out[lo*d:hi*d], f.Data())
			}
		}()
	}
	for lo := 0; lo < len(imgs); lo += chunk {
		jobs <- lo
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return tensor.FromSlice(out, len(imgs), d), nil
}
