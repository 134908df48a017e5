package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
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

// maxIDXBytes bounds what a header may announce, so that a corrupt header is
// an error rather than an attempt to allocate terabytes.
const maxIDXBytes = 1 << 36

// ReadIDX reads one IDX file from r; name is used in error messages. A
// gzip-compressed stream is recognised by its magic bytes and decompressed
// (error offsets then count decompressed bytes). The stream must hold exactly
// the elements its header announces: a short stream, trailing bytes, a bad
// magic number, an unknown element type or a zero dimension is a
// *FormatError.
func ReadIDX(r io.Reader, name string) (*IDX, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
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
		total *= d
		if total > maxIDXBytes {
			return nil, formatErr(name, off, "dimension %d = %d makes the data larger than %d bytes", i, d, int64(maxIDXBytes))
		}
		x.Dims[i] = int(d)
	}
	// Read in chunks so that a header announcing more than the file holds
	// fails as truncated before allocating it all.
	const chunk = 1 << 24
	start := cr.n
	x.Data = make([]byte, 0, min(total, chunk))
	for int64(len(x.Data)) < total {
		n := min(total-int64(len(x.Data)), chunk)
		if int64(cap(x.Data)-len(x.Data)) < n {
			grown := make([]byte, len(x.Data), min(total, 2*int64(cap(x.Data))+n))
			copy(grown, x.Data)
			x.Data = grown
		}
		buf := x.Data[len(x.Data) : int64(len(x.Data))+n]
		got, err := io.ReadFull(cr, buf)
		x.Data = x.Data[:len(x.Data)+got]
		if err != nil {
			return nil, truncErr(name, cr.n, fmt.Sprintf("data: %d of %d bytes read (dims %v, %v elements)",
				cr.n-start, total, x.Dims, t), err)
		}
	}
	var extra [1]byte
	switch _, err := io.ReadFull(cr, extra[:]); {
	case err == nil:
		return nil, formatErr(name, cr.n-1, "trailing bytes after the %d data bytes that dims %v announce", total, x.Dims)
	case err != io.EOF:
		return nil, truncErr(name, cr.n, "after the data", err)
	}
	return x, nil
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
