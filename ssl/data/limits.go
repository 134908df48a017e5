package data

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"sync"
)

// Limits bounds the memory that a data file can make a reader allocate. Every
// size a file announces (the dimensions in an IDX header, the width and height
// in an image header, the length of a file itself) is checked against what can
// exist and against these bounds before anything of that size is allocated, so
// that a corrupt or hostile file is an error rather than an exhausted heap.
//
// A zero field takes its value from DefaultLimits; a negative one is an error.
type Limits struct {
	// MaxBytes bounds the content of one data file once read and
	// decompressed: the data of an IDX file, a CIFAR or STL-10 binary, an
	// image file's encoded bytes.
	MaxBytes int64
	// MaxRatio bounds how many decompressed bytes a compressed stream may
	// announce for each of its compressed bytes. Gzip's deflate cannot
	// exceed about 1032; real image data sets compress 2 to 5 times.
	MaxRatio float64
	// MaxPixels bounds the width times height of one image, read from its
	// header before it is decoded. It also bounds the pixels that the
	// goroutines of an image folder decode at one time, so that the memory
	// of parallel decoding is that of one image of MaxPixels pixels (about
	// 25 bytes a pixel at most: decoded image, CHW bytes, float32 copy for
	// resizing), whatever the number of workers.
	MaxPixels int64
	// MaxTextBytes bounds the size of a text file: class name lists,
	// wnids.txt and val_annotations.txt.
	MaxTextBytes int64
}

// DefaultLimits returns the limits that the readers use when a field is 0:
// 16 GiB of content per file (above STL-10's 2.8 GB unlabelled split), a
// compression ratio of 100, 64 megapixels per image (8192 x 8192; the
// photos of ImageNet are well below) and 16 MiB per text file.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:     16 << 30,
		MaxRatio:     100,
		MaxPixels:    64 << 20,
		MaxTextBytes: 16 << 20,
	}
}

// resolve fills the zero fields of l with the defaults and checks the rest.
func (l Limits) resolve() (Limits, error) {
	if l.MaxBytes < 0 || l.MaxPixels < 0 || l.MaxTextBytes < 0 || l.MaxRatio < 0 || math.IsNaN(l.MaxRatio) {
		return l, fmt.Errorf("data: limits %+v: want every field positive, or 0 for its default", l)
	}
	def := DefaultLimits()
	if l.MaxBytes == 0 {
		l.MaxBytes = def.MaxBytes
	}
	if l.MaxRatio == 0 {
		l.MaxRatio = def.MaxRatio
	}
	if l.MaxPixels == 0 {
		l.MaxPixels = def.MaxPixels
	}
	if l.MaxTextBytes == 0 {
		l.MaxTextBytes = def.MaxTextBytes
	}
	// Nothing larger than an int can be allocated; half of that leaves room
	// for the arithmetic on sizes not to overflow.
	l.MaxBytes = min(l.MaxBytes, math.MaxInt/2)
	l.MaxPixels = min(l.MaxPixels, math.MaxInt/2)
	l.MaxTextBytes = min(l.MaxTextBytes, math.MaxInt/2)
	return l, nil
}

// readFileLimited reads the whole of path when it holds at most limit bytes.
// The size of a regular file is checked before reading, and the read stops at
// limit + 1 bytes for a file that grows or is not a regular file; what names
// the limit in the error. An error from opening the file is wrapped, so that
// callers can test it with errors.Is (fs.ErrNotExist).
func readFileLimited(path string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	size := int64(512)
	if fi.Mode().IsRegular() {
		if fi.Size() > limit {
			return nil, formatErr(path, limit, "the file holds %d bytes, more than the %d allowed (%s)", fi.Size(), limit, what)
		}
		size = fi.Size() + 1 // one more byte to see the end of the file
	}
	buf := make([]byte, 0, min(size, limit+1))
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(int64(len(buf)), limit+1-int64(len(buf)))))
		}
		n, err := f.Read(buf[len(buf):min(int64(cap(buf)), limit+1)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, formatErr(path, limit, "the file holds more than the %d bytes allowed (%s)", limit, what)
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, &FormatError{File: path, Offset: int64(len(buf)), Msg: "reading the file", Err: err}
		}
	}
}

// statRegular returns the size of the regular file at path.
func statRegular(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, &fs.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	return fi.Size(), nil
}

// pixelBudget is a weighted semaphore over pixels: the decoding goroutines of
// an image folder take an image's pixels from it before decoding and give
// them back once the image is converted, so that the images being decoded at
// any time hold at most max pixels together. One goroutine at a time waits
// for room, in the order they came, so a large image is not starved by a
// stream of small ones.
type pixelBudget struct {
	order sync.Mutex // held by the one goroutine waiting for room
	mu    sync.Mutex
	room  *sync.Cond
	used  int64
	max   int64
}

func newPixelBudget(max int64) *pixelBudget {
	b := &pixelBudget{max: max}
	b.room = sync.NewCond(&b.mu)
	return b
}

// acquire takes n pixels, n <= max, waiting until there is room.
func (b *pixelBudget) acquire(n int64) {
	b.order.Lock()
	b.mu.Lock()
	for b.used+n > b.max {
		b.room.Wait()
	}
	b.used += n
	b.mu.Unlock()
	b.order.Unlock()
}

// release gives back n pixels taken by acquire.
func (b *pixelBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.room.Broadcast()
}
