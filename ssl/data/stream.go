package data

import (
	"container/list"
	"fmt"
	"os"
	"sync"
)

// DefaultCacheBytes is the size of the decode cache of a streamed image
// folder when FolderOptions.CacheBytes is 0: 1 GiB.
const DefaultCacheBytes = 1 << 30

// DefaultStreamAbove is the estimated size of an image folder's decoded
// pixels above which LoadImageFolder and LoadTinyImageNet stream it when
// FolderOptions.StreamAbove is 0: 4 GiB (Tiny ImageNet's 100,000 images of
// 64x64x3 take 1.2 GB; ImageNet's 1.28 million take 15.7 GB at 64x64).
const DefaultStreamAbove = 4 << 30

// source gives the images of a streamed data set, decoded on demand. Its
// methods are safe for concurrent use, and the slices it returns are never
// written to afterwards.
type source interface {
	// load returns image i, 0 <= i < n, as C x h x w bytes.
	load(i int) (pix []uint8, h, w int, err error)
	// n is the number of images.
	n() int
}

// folderSource reads the files of an image folder, through a cache.
type folderSource struct {
	paths  []string
	sizes  [][2]int // the headers' (height, width), for images not resized
	opt    FolderOptions
	lim    Limits
	budget *pixelBudget
	cache  *decodeCache // nil without a cache
}

func (s *folderSource) n() int { return len(s.paths) }

func (s *folderSource) load(i int) ([]uint8, int, int, error) {
	if e, ok := s.cache.get(i); ok {
		return e.pix, e.h, e.w, nil
	}
	pix, h, w, err := decodeFile(s.paths[i], s.opt, s.lim, s.budget)
	if err != nil {
		return nil, 0, 0, err
	}
	if s.opt.Height == 0 && (h != s.sizes[i][0] || w != s.sizes[i][1]) {
		return nil, 0, 0, fmt.Errorf("data: %s: the image is %dx%d, it was %dx%d when the folder was listed", s.paths[i], w, h, s.sizes[i][1], s.sizes[i][0])
	}
	s.cache.put(i, pix, h, w)
	return pix, h, w, nil
}

// indexSource is the images idx of a streamed data set (Subset).
type indexSource struct {
	base source
	idx  []int
}

func (s *indexSource) n() int { return len(s.idx) }

func (s *indexSource) load(i int) ([]uint8, int, int, error) { return s.base.load(s.idx[i]) }

// concatSource is data sets one after the other (Concat), some streamed.
type concatSource struct {
	parts  []*Dataset
	starts []int // starts[k] is the index of parts[k]'s first image; one more entry holds the total
}

func (s *concatSource) n() int { return s.starts[len(s.starts)-1] }

func (s *concatSource) load(i int) ([]uint8, int, int, error) {
	lo, hi := 0, len(s.parts)-1
	for lo < hi { // the last part starting at or before i
		mid := (lo + hi + 1) / 2
		if s.starts[mid] <= i {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return s.parts[lo].ImageErr(i - s.starts[lo])
}

// decodeCache holds decoded images up to a number of bytes, dropping the
// least recently used first. It never writes to an image's slice once
// stored, so a caller may read a slice it got while other goroutines fill
// and empty the cache. A nil *decodeCache caches nothing.
type decodeCache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	items map[int]*list.Element
	order list.List // front: most recently used
}

type cacheEntry struct {
	i       int
	pix     []uint8
	h, w    int
	nbBytes int64
}

// cacheOverhead is the bookkeeping counted beside an entry's pixels.
const cacheOverhead = 128

func newDecodeCache(max int64) *decodeCache {
	if max <= 0 {
		return nil
	}
	return &decodeCache{max: max, items: map[int]*list.Element{}}
}

func (c *decodeCache) get(i int) (*cacheEntry, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[i]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry), true
}

// put stores image i, evicting the least recently used images to make
// room; an image larger than the whole cache is not stored.
func (c *decodeCache) put(i int, pix []uint8, h, w int) {
	if c == nil {
		return
	}
	size := int64(len(pix)) + cacheOverhead
	if size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[i]; ok { // decoded twice at the same time
		c.order.MoveToFront(el)
		return
	}
	for c.used+size > c.max {
		el := c.order.Back()
		e := el.Value.(*cacheEntry)
		c.order.Remove(el)
		delete(c.items, e.i)
		c.used -= e.nbBytes
	}
	c.items[i] = c.order.PushFront(&cacheEntry{i: i, pix: pix, h: h, w: w, nbBytes: size})
	c.used += size
}

// bytes returns the bytes the cache holds and the number of images.
func (c *decodeCache) bytes() (int64, int) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, len(c.items)
}

// streamFolder returns a streamed data set of the image files paths: their
// headers are read now (in parallel), checked against lim, and give the
// sizes of images not resized; the pixels are decoded when asked for.
func streamFolder(paths []string, labels []int32, classes []string, opt FolderOptions, lim Limits) (*Dataset, error) {
	c := 3
	if opt.Gray {
		c = 1
	}
	d := &Dataset{N: len(paths), C: c, Labels: labels, NumClasses: len(classes), ClassNames: classes}
	src := &folderSource{paths: paths, opt: opt, lim: lim, budget: newPixelBudget(lim.MaxPixels)}
	cacheBytes := opt.CacheBytes
	if cacheBytes == 0 {
		cacheBytes = DefaultCacheBytes
	}
	src.cache = newDecodeCache(cacheBytes)
	if opt.Height > 0 {
		d.H, d.W = opt.Height, opt.Width
	}
	sizes := make([][2]int, len(paths))
	if err := parallelEach(len(paths), opt.Workers, false, func(i int) (err error) {
		sizes[i], err = fileHeader(paths[i], lim)
		return err
	}); err != nil {
		return nil, err
	}
	if opt.Height == 0 {
		src.sizes = sizes
		same := true
		for _, s := range sizes {
			same = same && s == sizes[0]
		}
		if same {
			d.H, d.W = sizes[0][0], sizes[0][1]
		} else {
			d.Sizes = sizes
		}
	}
	d.src = src
	return d, nil
}

// fileHeader reads the header of an image file and returns its (height,
// width), checking the file's size and its pixels against lim.
func fileHeader(path string, lim Limits) ([2]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return [2]int{}, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > lim.MaxBytes {
		return [2]int{}, formatErr(path, lim.MaxBytes, "the file holds %d bytes, more than the %d allowed (Limits.MaxBytes)",
			fi.Size(), lim.MaxBytes)
	}
	_, cfg, err := readHeader(path, f, lim)
	if err != nil {
		return [2]int{}, err
	}
	return [2]int{cfg.Height, cfg.Width}, nil
}
