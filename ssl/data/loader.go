package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// Batch is one mini-batch of augmented views. Views[v] holds view v of the N
// images as one N x C x H x W float32 buffer; Labels and Indices (positions in
// the Dataset) are per image. Epoch and Step say where the batch lies in the
// run.
type Batch struct {
	Views      [][]float32 // one NCHW buffer per view
	Labels     []int32
	Indices    []int
	N, C, H, W int
	Epoch      int
	Step       int // batch number within the epoch, from 0
}

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	// BatchSize is the number of images per batch.
	BatchSize int
	// Views holds one transform per view: two for self-supervised
	// pre-training, one for evaluation. A nil transform only converts the
	// pixels to [0, 1]. All views must give images of the same shape.
	Views []Transform
	// Seed drives the sample order and every augmentation.
	Seed uint64
	// Shuffle visits the images in a new random order each epoch; without
	// it they come in data set order.
	Shuffle bool
	// DropLast leaves out the last batch of an epoch when it is short.
	DropLast bool
	// Workers is the number of goroutines that build batches; 0 means
	// GOMAXPROCS.
	Workers int
	// Prefetch is the number of batches prepared ahead; 0 means 2 per worker.
	Prefetch int
	// Epochs, when positive, ends the stream after epoch Epochs-1: Next then
	// returns io.EOF. Zero means no end.
	Epochs int
	// StartEpoch and StartStep are where the stream begins, for resuming a
	// run: the batches are those the run would have had there.
	StartEpoch, StartStep int
}

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("data: loader closed")

// Loader streams batches of augmented views of a Dataset, epoch after epoch.
// Worker goroutines build batches ahead of time; the content of every batch
// depends only on the seed, the epoch and the step, never on the number of
// workers or on timing. Call Close when done with it.
type Loader struct {
	ds      *Dataset
	opt     LoaderOptions
	c, h, w int
	steps   int

	ctx    context.Context
	cancel context.CancelFunc
	order  chan chan result // slots of the coming batches, in order
	jobs   chan job
	free   chan *Batch
	wg     sync.WaitGroup
	closed atomic.Bool
	once   sync.Once

	errMu sync.Mutex
	err   error // the error that ended the stream, returned by every Next after it
}

type job struct {
	epoch, step int
	idx         []int
	slot        chan result
}

type result struct {
	b   *Batch
	err error
}

// NewLoader checks the options against the data set and starts the workers.
// They stop when ctx is cancelled or Close is called.
func NewLoader(ctx context.Context, ds *Dataset, opt LoaderOptions) (*Loader, error) {
	if err := ds.Validate(); err != nil {
		return nil, err
	}
	if ds.N == 0 {
		return nil, fmt.Errorf("data: loader over an empty data set")
	}
	if opt.BatchSize <= 0 {
		return nil, fmt.Errorf("data: batch size %d", opt.BatchSize)
	}
	if len(opt.Views) == 0 {
		return nil, fmt.Errorf("data: loader with no views")
	}
	if opt.Workers < 0 || opt.Prefetch < 0 || opt.Epochs < 0 || opt.StartEpoch < 0 || opt.StartStep < 0 {
		return nil, fmt.Errorf("data: negative loader option in %+v", opt)
	}
	if opt.Workers == 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.Prefetch == 0 {
		opt.Prefetch = 2 * opt.Workers
	}
	l := &Loader{ds: ds, opt: opt}
	l.steps = ds.N / opt.BatchSize
	if !opt.DropLast && ds.N%opt.BatchSize != 0 {
		l.steps++
	}
	if l.steps == 0 {
		return nil, fmt.Errorf("data: %d images make no full batch of %d with DropLast", ds.N, opt.BatchSize)
	}
	if opt.StartStep >= l.steps {
		return nil, fmt.Errorf("data: start step %d, but an epoch has %d steps", opt.StartStep, l.steps)
	}
	if err := l.checkShapes(); err != nil {
		return nil, err
	}
	l.ctx, l.cancel = context.WithCancel(ctx)
	l.order = make(chan chan result, opt.Prefetch)
	l.jobs = make(chan job)
	l.free = make(chan *Batch, opt.Prefetch+opt.Workers+1)
	l.wg.Add(1 + opt.Workers)
	go l.dispatch()
	for range opt.Workers {
		go l.work()
	}
	return l, nil
}

// checkShapes finds the output shape of every view for every image size in
// the data set and requires them all to agree.
func (l *Loader) checkShapes() error {
	sizes := map[[2]int]bool{{l.ds.H, l.ds.W}: true}
	if l.ds.Sizes != nil {
		sizes = map[[2]int]bool{}
		for _, s := range l.ds.Sizes {
			sizes[s] = true
		}
	}
	first := true
	for s := range sizes {
		for v, t := range l.opt.Views {
			c, h, w := l.ds.C, s[0], s[1]
			if t != nil {
				var err error
				if c, h, w, err = t.OutShape(c, h, w); err != nil {
					return fmt.Errorf("data: view %d: %w", v, err)
				}
			}
			if first {
				l.c, l.h, l.w, first = c, h, w, false
			} else if c != l.c || h != l.h || w != l.w {
				return fmt.Errorf("data: view %d gives %dx%dx%d images from %dx%d input, another view or size gives %dx%dx%d",
					v, c, h, w, s[0], s[1], l.c, l.h, l.w)
			}
		}
	}
	return nil
}

// StepsPerEpoch is the number of batches in an epoch.
func (l *Loader) StepsPerEpoch() int { return l.steps }

// Shape is the (C, H, W) of the images in every view.
func (l *Loader) Shape() (c, h, w int) { return l.c, l.h, l.w }

// Order returns the data set indices in the order epoch visits them.
func (l *Loader) Order(epoch int) []int {
	if !l.opt.Shuffle {
		idx := make([]int, l.ds.N)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	return shuffleRand(l.opt.Seed, epoch).Perm(l.ds.N)
}

// dispatch hands out the batches in order.
func (l *Loader) dispatch() {
	defer l.wg.Done()
	defer close(l.jobs)
	defer close(l.order)
	B := l.opt.BatchSize
	for epoch := l.opt.StartEpoch; l.opt.Epochs == 0 || epoch < l.opt.Epochs; epoch++ {
		perm := l.Order(epoch)
		step := 0
		if epoch == l.opt.StartEpoch {
			step = l.opt.StartStep
		}
		for ; step < l.steps; step++ {
			slot := make(chan result, 1)
			j := job{epoch: epoch, step: step, idx: perm[step*B : min((step+1)*B, len(perm))], slot: slot}
			select {
			case l.order <- slot:
			case <-l.ctx.Done():
				return
			}
			select {
			case l.jobs <- j:
			case <-l.ctx.Done():
				return
			}
		}
	}
}

// work builds batches until the jobs run out or the loader stops.
func (l *Loader) work() {
	defer l.wg.Done()
	for j := range l.jobs {
		b, err := l.build(j)
		j.slot <- result{b, err}
	}
}

// build makes the batch of one job.
func (l *Loader) build(j job) (*Batch, error) {
	b := l.batch(len(j.idx))
	b.Epoch, b.Step = j.epoch, j.step
	chw := l.c * l.h * l.w
	for k, i := range j.idx {
		if k%16 == 0 {
			if err := l.ctx.Err(); err != nil {
				return nil, err
			}
		}
		b.Indices[k] = i
		b.Labels[k] = l.ds.Labels[i]
		pix, h, w, err := l.ds.ImageErr(i)
		if err != nil {
			return nil, fmt.Errorf("data: epoch %d, step %d, image %d: %w", j.epoch, j.step, i, err)
		}
		for v, t := range l.opt.Views {
			img := ImageFromBytes(pix, l.ds.C, h, w)
			if t != nil {
				img = t.Apply(img, SampleRand(l.opt.Seed, j.epoch, i, v))
			}
			if img.C != l.c || img.H != l.h || img.W != l.w || len(img.Pix) != chw {
				panic(fmt.Sprintf("data: view %d (%T) gave a %dx%dx%d image, its OutShape said %dx%dx%d",
					v, t, img.C, img.H, img.W, l.c, l.h, l.w))
			}
			copy(b.Views[v][k*chw:(k+1)*chw], img.Pix)
		}
	}
	return b, nil
}

// batch returns a batch for n images, reusing a recycled one when there is one.
func (l *Loader) batch(n int) *Batch {
	chw := l.c * l.h * l.w
	var b *Batch
	select {
	case b = <-l.free:
	default:
		b = &Batch{Views: make([][]float32, len(l.opt.Views))}
	}
	b.N, b.C, b.H, b.W = n, l.c, l.h, l.w
	for v := range b.Views {
		if cap(b.Views[v]) < n*chw {
			b.Views[v] = make([]float32, n*chw)
		}
		b.Views[v] = b.Views[v][:n*chw]
	}
	if cap(b.Labels) < n {
		b.Labels, b.Indices = make([]int32, n), make([]int, n)
	}
	b.Labels, b.Indices = b.Labels[:n], b.Indices[:n]
	return b
}

// Next returns the next batch. At the end of the last epoch it returns
// io.EOF; after Close, ErrClosed; when the context is cancelled, its error.
// When an image of a streamed data set cannot be read, the error (naming
// the file) ends the stream: the workers stop, and this call and the next
// ones return it.
func (l *Loader) Next() (*Batch, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	l.errMu.Lock()
	err := l.err
	l.errMu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case slot, ok := <-l.order:
		if !ok {
			return nil, l.endErr()
		}
		select {
		case r := <-slot:
			if r.err != nil {
				if l.ctx.Err() != nil {
					return nil, l.endErr()
				}
				l.errMu.Lock()
				if l.err == nil {
					l.err = r.err
				}
				err := l.err
				l.errMu.Unlock()
				l.cancel()
				return nil, err
			}
			return r.b, nil
		case <-l.ctx.Done():
			return nil, l.endErr()
		}
	case <-l.ctx.Done():
		return nil, l.endErr()
	}
}

// endErr says why no batch comes.
func (l *Loader) endErr() error {
	if l.closed.Load() {
		return ErrClosed
	}
	if err := l.ctx.Err(); err != nil {
		return err
	}
	return io.EOF
}

// Recycle hands a batch that the caller no longer uses back to the loader,
// which may fill it again; the caller must not touch it afterwards.
func (l *Loader) Recycle(b *Batch) {
	if b == nil || len(b.Views) != len(l.opt.Views) {
		return
	}
	select {
	case l.free <- b:
	default:
	}
}

// Close stops the workers and waits for them to exit. It may be called more
// than once.
func (l *Loader) Close() error {
	l.once.Do(func() {
		l.closed.Store(true)
		l.cancel()
		l.wg.Wait()
	})
	return nil
}
