package data

import "fmt"

// FormatError reports a data file that is truncated or does not follow its
// format. Offset is the byte offset in the file where the problem lies; for a
// gzip-compressed file it is the offset in the decompressed stream.
type FormatError struct {
	File   string // the file, as named to the reader
	Offset int64  // byte offset of the problem
	Msg    string // what is wrong
	Err    error  // the underlying I/O error, if any
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("data: %s: at byte offset %d: %s", e.File, e.Offset, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying I/O error.
func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(file string, off int64, format string, args ...any) *FormatError {
	return &FormatError{File: file, Offset: off, Msg: fmt.Sprintf(format, args...)}
}
