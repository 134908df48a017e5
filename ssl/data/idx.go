package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
)

// IDXType is the element type code of an IDX file (the third byte of its
// magic number).
type IDXType byte

// The element types of the IDX format.
const (
	IDXUint8   IDXType = 0x08
	IDXInt8    IDXType = 0x09
	IDXInt16   IDXType = 0x0B
	IDXInt32   IDXType = 0x0C
	IDXFloat32 IDXType = 0x0D
	IDXFloat64 IDXType = 0x0E
)

// Size is the number of bytes of one element, or 0 for an unknown type.
func (t IDXType) Size() int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

func (t IDXType) String() string {
	switch t {
	case IDXUint8:
		return "uint8"
	case IDXInt8:
		return "int8"
	case IDXInt16:
		return "int16"
	case IDXInt32:
		return "int32"
	case IDXFloat32:
		return "float32"
	case IDXFloat64:
		return "float64"
	}
	return fmt.Sprintf("IDXType(0x%02x)", byte(t))
}

// IDX is the content of an IDX file: an n-dimensional array of one element
// type, stored row-major.
type IDX struct {
	Type IDXType
	Dims []int
	Data []byte // the elements as stored: big-endian, row-major, len = Len()*Type.Size()
}

// Len is the number of elements (the product of Dims).
func (x *IDX) Len() int {
	n := 1
	for _, d := range x.Dims {
		n *= d
	}
	return n
}

// At returns element i (row-major) converted to float64.
func (x *IDX) At(i int) float64 {
	switch x.Type {
	case IDXUint8:
		return float64(x.Data[i])
	case IDXInt8:
		return float64(int8(x.Data[i]))
	case IDXInt16:
		return float64(int16(binary.BigEndian.Uint16(x.Data[2*i:])))
	case IDXInt32:
		return float64(int32(binary.BigEndian.Uint32(x.Data[4*i:])))
	case IDXFloat32:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(x.Data[4*i:])))
	case IDXFloat64:
		return math.Float64frombits(binary.BigEndian.Uint64(x.Data[8*i:]))
	}
	panic(fmt.Sprintf("data: IDX element of unknown type %v", x.Type))
}

// IDXOptions says how ReadIDXWithOptions bounds what it reads.
type IDXOptions struct {
	// Limits bounds the data that a header may announce: at most
	// Limits.MaxBytes, and for a gzip stream at most Limits.MaxRatio times
	// its compressed size. The zero value takes DefaultLimits.
	Limits Limits
	// Size, when positive, is the number of bytes left in the stream (for a
	// gzip stream, its compressed bytes). When it is 0 the reader is asked:
	// a Len method (bytes.Reader, strings.Reader, bytes.Buffer), or Stat and
	// Seek on a regular file (*os.File).
	Size int64
}

// ReadIDX reads one IDX file from r with the default limits; name is used in
// error messages. It is ReadIDXWithOptions with zero IDXOptions.
func ReadIDX(r io.Reader, name string) (*IDX, error) {
	return ReadIDXWithOptions(r, name, IDXOptions{})
}

// ReadIDXWithOptions reads one IDX file from r; name is used in error
// messages. A gzip-compressed stream is recognised by its magic bytes and
// decompressed (error offsets then count decompressed bytes). The stream must
// hold exactly the elements its header announces: a short stream, trailing
// bytes, a bad magic number, an unknown element type or a zero dimension is a
// *FormatError.
//
// What the header announces is checked before the data is allocated: against
// opt.Limits.MaxBytes, against the bytes the stream holds when its size is
// known (see IDXOptions.Size), and for a gzip stream against
// opt.Limits.MaxRatio times its compressed size. A gzip stream of unknown size
// is read into memory before it is decompressed, so that its size is known; a
// plain stream of unknown size is read as it comes, its buffer growing with
// the bytes that arrive rather than with what the header announces.
func ReadIDXWithOptions(r io.Reader, name string, opt IDXOptions) (*IDX, error) {
	lim, err := opt.Limits.resolve()
	if err != nil {
		return nil, err
	}
	size := opt.Size
	if size <= 0 {
		size = streamSize(r)
	}
	br := bufio.NewReaderSize(r, 1<<16)
	compressed := false
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		compressed = true
		var src io.Reader = br
		if size < 0 {
			b, err := io.ReadAll(io.LimitReader(br, lim.MaxBytes+1))
			if err != nil {
				return nil, &FormatError{File: name, Offset: 0, Msg: "reading the gzip stream", Err: err}
			}
			if int64(len(b)) > lim.MaxBytes {
				return nil, formatErr(name, 0, "gzip stream of more than %d bytes (Limits.MaxBytes)", lim.MaxBytes)
			}
			size, src = int64(len(b)), bytes.NewReader(b)
		}
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, &FormatError{File: name, Offset: 0, Msg: "bad gzip header", Err: err}
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	cr := &countReader{r: br}
	var magic [4]byte
	if err := readFull(cr, magic[:], name, "magic number"); err != nil {
		return nil, err
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, formatErr(name, 0, "bad magic number % x: an IDX file starts with two zero bytes", magic[:])
	}
	t := IDXType(magic[2])
	if t.Size() == 0 {
		return nil, formatErr(name, 2, "unknown IDX element type 0x%02x", magic[2])
	}
	nd := int(magic[3])
	if nd == 0 {
		return nil, formatErr(name, 3, "IDX file with zero dimensions")
	}
	x := &IDX{Type: t, Dims: make([]int, nd)}
	// total <= lim.MaxBytes holds throughout: each dimension is checked
	// against what is left before it multiplies, so the product cannot wrap.
	total := int64(t.Size())
	for i := range x.Dims {
		var b [4]byte
		off := cr.n
		if err := readFull(cr, b[:], name, fmt.Sprintf("dimension %d of %d", i, nd)); err != nil {
			return nil, err
		}
		d := int64(binary.BigEndian.Uint32(b[:]))
		if d == 0 {
			return nil, formatErr(name, off, "dimension %d is 0", i)
		}
		if d > lim.MaxBytes/total {
			return nil, formatErr(name, off, "dimension %d = %d makes the data larger than %d bytes (Limits.MaxBytes)",
				i, d, lim.MaxBytes)
		}
		total *= d
		x.Dims[i] = int(d)
	}
	start := cr.n
	truncated := func(held int64) *FormatError {
		return formatErr(name, start+held, "file truncated reading data: the header announces %d bytes (dims %v of %v), the file holds %d",
			total, x.Dims, t, held)
	}
	trailing := func() *FormatError {
		return formatErr(name, start+total, "trailing bytes after the %d data bytes that dims %v announce", total, x.Dims)
	}
	switch {
	case size < 0:
		// A plain stream of unknown size: readGrowing allocates as the
		// bytes arrive.
	case compressed:
		if float64(start+total) > float64(size)*lim.MaxRatio {
			return nil, formatErr(name, start, "the header announces %d bytes of data (dims %v of %v), more than %g times the %d compressed bytes of the file (Limits.MaxRatio)",
				total, x.Dims, t, lim.MaxRatio, size)
		}
	default:
		held := max(size-start, 0)
		if total > held {
			return nil, truncated(held)
		}
		if total < held {
			return nil, trailing()
		}
	}
	if size < 0 {
		x.Data, err = readGrowing(cr, total)
	} else {
		x.Data = make([]byte, total)
		var n int
		n, err = io.ReadFull(cr, x.Data)
		x.Data = x.Data[:n]
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, truncated(int64(len(x.Data)))
	}
	if err != nil {
		return nil, truncErr(name, cr.n, "data", err)
	}
	var extra [1]byte
	switch _, err := io.ReadFull(cr, extra[:]); {
	case err == nil:
		return nil, trailing()
	case err != io.EOF:
		return nil, truncErr(name, cr.n, "after the data", err)
	}
	return x, nil
}

// streamSize returns the number of bytes left in r when r knows it, else -1.
func streamSize(r io.Reader) int64 {
	if l, ok := r.(interface{ Len() int }); ok {
		return int64(l.Len())
	}
	st, ok := r.(interface{ Stat() (fs.FileInfo, error) })
	sk, ok2 := r.(io.Seeker)
	if !ok || !ok2 {
		return -1
	}
	fi, err := st.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	cur, err := sk.Seek(0, io.SeekCurrent)
	if err != nil {
		return -1
	}
	return max(fi.Size()-cur, 0)
}

// readGrowing reads total bytes from r into a buffer that starts small and
// doubles, so that what is allocated follows what arrives. On an error it
// returns the bytes read so far.
func readGrowing(r io.Reader, total int64) ([]byte, error) {
	data := make([]byte, 0, min(total, 1<<16))
	for int64(len(data)) < total {
		if len(data) == cap(data) {
			data = slices.Grow(data, int(min(total-int64(len(data)), int64(len(data)))))
		}
		n, err := io.ReadFull(r, data[len(data):min(int64(cap(data)), total)])
		data = data[:len(data)+n]
		if err != nil {
			return data, err
		}
	}
	return data, nil
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readFull reads len(b) bytes of the named field or returns a FormatError.
func readFull(cr *countReader, b []byte, name, what string) error {
	if _, err := io.ReadFull(cr, b); err != nil {
		return truncErr(name, cr.n, what, err)
	}
	return nil
}

// truncErr turns a read error into a FormatError: end of file becomes
// "truncated", anything else keeps the underlying error.
func truncErr(name string, off int64, what string, err error) *FormatError {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &FormatError{File: name, Offset: off, Msg: "file truncated reading " + what}
	}
	return &FormatError{File: name, Offset: off, Msg: "reading " + what, Err: err}
}
