// Package halgen reads kernels/cuda/src/hal.h, the hand-written C ABI of the
// CUDA kernel library, and writes what the Go side needs to call it: the
// mirrors of its structs, the hal interface with one method per entry point,
// the cgo function table, loader and trampolines, and the ABI hash that the
// library and the loader compare (src/hal_abi.h). cmd/halgen runs it from
// `go generate ./kernels/cuda`; the tests of kernels/cuda run it in memory to
// catch generated files that are out of date.
//
// hal.h is read as a small subset of C: numeric #defines, the include guard,
// an `#ifdef __cplusplus` block (skipped), typedef'd structs and function
// prototypes, with comments anywhere. HAL_HOST before a pointer parameter
// marks host memory; pointers to hal_*_args structs are host pointers by
// convention; every other pointer is a device pointer or an opaque handle.
// Anything else is an error naming the line, so that the header stays a plain
// list of the ABI.
package halgen

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// HostMark is the annotation macro of a host pointer parameter.
const HostMark = "HAL_HOST"

// CType is a C type of hal.h.
type CType struct {
	Base  string // canonical base type: "int", "long long", "size_t", "void", a struct typedef, ...
	Const bool   // the base is const (const float* p)
	Ptr   int    // levels of indirection
	Array int    // element count of a fixed array field, 0 for none
}

// String renders t as C.
func (t CType) String() string {
	s := t.Base
	if t.Const {
		s = "const " + s
	}
	s += strings.Repeat("*", t.Ptr)
	if t.Array > 0 {
		s += fmt.Sprintf("[%d]", t.Array)
	}
	return s
}

// Decl declares name of type t: const float* p, char name[256].
func (t CType) Decl(name string) string {
	a := t
	a.Array = 0
	s := a.String() + " " + name
	if t.Array > 0 {
		s += fmt.Sprintf("[%d]", t.Array)
	}
	return s
}

// Param is a parameter of a prototype.
type Param struct {
	Name string
	Type CType
	Host bool // marked HAL_HOST
}

// Func is a prototype.
type Func struct {
	Name   string
	Ret    CType
	Params []Param
	Line   int
}

// Field is a member of a struct.
type Field struct {
	Name string
	Type CType
}

// Struct is a `typedef struct {...} name;`.
type Struct struct {
	Name   string
	Fields []Field
	Line   int
}

// Const is a `#define NAME integer`.
type Const struct {
	Name  string
	Value string
	Line  int
}

// ABI is the content of hal.h.
type ABI struct {
	Consts  []Const
	Structs []Struct
	Funcs   []Func
}

// Struct returns the struct typedef called name, or nil.
func (a *ABI) Struct(name string) *Struct {
	for i := range a.Structs {
		if a.Structs[i].Name == name {
			return &a.Structs[i]
		}
	}
	return nil
}

// Func returns the prototype called name, or nil.
func (a *ABI) Func(name string) *Func {
	for i := range a.Funcs {
		if a.Funcs[i].Name == name {
			return &a.Funcs[i]
		}
	}
	return nil
}

// IsArgs reports whether a struct name is an argument struct (hal_*_args),
// which is passed by host pointer without a HAL_HOST mark.
func IsArgs(name string) bool {
	return strings.HasPrefix(name, "hal_") && strings.HasSuffix(name, "_args")
}

// ParseError is a parse failure at a line of the header.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// token is a lexical token with its line.
type token struct {
	text string
	line int
}

var (
	identRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)
	numberRE = regexp.MustCompile(`^[0-9][0-9A-Za-z_]*`)
	intRE    = regexp.MustCompile(`^(0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]*$`)
)

// Parse reads a header (file names it in errors).
func Parse(file string, src []byte) (*ABI, error) {
	p := &parser{file: file}
	text, err := p.stripComments(string(src))
	if err != nil {
		return nil, err
	}
	if err := p.preprocess(text); err != nil {
		return nil, err
	}
	if err := p.decls(); err != nil {
		return nil, err
	}
	if err := p.abi.check(file); err != nil {
		return nil, err
	}
	return &p.abi, nil
}

type parser struct {
	file string
	toks []token
	pos  int
	abi  ABI
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return &ParseError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// stripComments replaces comments by spaces, keeping the newlines, so that
// lines keep their numbers.
func (p *parser) stripComments(s string) (string, error) {
	var b strings.Builder
	line := 1
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return "", p.errorf(line, "unterminated comment")
			}
			c := s[i : i+2+end+2]
			n := strings.Count(c, "\n")
			line += n
			b.WriteByte(' ')
			b.WriteString(strings.Repeat("\n", n))
			i += len(c)
		case strings.HasPrefix(s[i:], "//"):
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				end = len(s) - i
			}
			b.WriteByte(' ')
			i += end
		case s[i] == '"':
			// A string literal (extern "C"): copied as is.
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 || strings.Contains(s[i:i+1+end], "\n") {
				return "", p.errorf(line, "unterminated string")
			}
			b.WriteString(s[i : i+2+end])
			i += 2 + end
		default:
			if s[i] == '\n' {
				line++
			}
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), nil
}

// preprocess handles the directives, line by line, and tokenises the lines
// that are compiled.
func (p *parser) preprocess(text string) error {
	type cond struct {
		skip bool
		line int
	}
	var stack []cond
	skipping := func() bool {
		for _, c := range stack {
			if c.skip {
				return true
			}
		}
		return false
	}
	for i, l := range strings.Split(text, "\n") {
		line := i + 1
		t := strings.TrimSpace(l)
		if strings.HasSuffix(t, "\\") {
			return p.errorf(line, "line continuations are not supported")
		}
		if !strings.HasPrefix(t, "#") {
			if !skipping() {
				if err := p.tokenize(l, line); err != nil {
					return err
				}
			}
			continue
		}
		f := strings.Fields(strings.TrimSpace(t[1:]))
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "ifndef":
			// The include guard.
			if len(f) != 2 {
				return p.errorf(line, "malformed #ifndef")
			}
			stack = append(stack, cond{line: line})
		case "ifdef":
			if len(f) != 2 || f[1] != "__cplusplus" {
				return p.errorf(line, "only #ifdef __cplusplus (skipped) and the include guard are supported")
			}
			stack = append(stack, cond{skip: true, line: line})
		case "endif":
			if len(stack) == 0 {
				return p.errorf(line, "#endif without #if")
			}
			stack = stack[:len(stack)-1]
		case "include":
			// System headers (stddef.h) add no ABI.
		case "define":
			if skipping() {
				continue
			}
			if len(f) < 2 || !identRE.MatchString(f[1]) || strings.Contains(f[1], "(") {
				return p.errorf(line, "function-like or malformed #define")
			}
			if len(f) == 2 {
				// An empty macro: the include guard or an annotation.
				continue
			}
			if len(f) > 3 || !intRE.MatchString(f[2]) {
				return p.errorf(line, "#define %s: only integer constants are supported", f[1])
			}
			if !strings.HasPrefix(f[1], "HAL_") {
				return p.errorf(line, "#define %s: constants must start with HAL_", f[1])
			}
			p.abi.Consts = append(p.abi.Consts, Const{Name: f[1], Value: f[2], Line: line})
		default:
			return p.errorf(line, "unsupported directive #%s", f[0])
		}
	}
	if len(stack) > 0 {
		return p.errorf(stack[len(stack)-1].line, "unterminated #if")
	}
	return nil
}

func (p *parser) tokenize(l string, line int) error {
	for i := 0; i < len(l); {
		c := l[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case strings.ContainsRune("{}()[];,*", rune(c)):
			p.toks = append(p.toks, token{string(c), line})
			i++
		case c == '"':
			end := strings.IndexByte(l[i+1:], '"')
			p.toks = append(p.toks, token{l[i : i+2+end], line})
			i += 2 + end
		default:
			m := identRE.FindString(l[i:])
			if m == "" {
				m = numberRE.FindString(l[i:])
			}
			if m == "" {
				return p.errorf(line, "unexpected character %q", c)
			}
			p.toks = append(p.toks, token{m, line})
			i += len(m)
		}
	}
	return nil
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	line := 0
	if len(p.toks) > 0 {
		line = p.toks[len(p.toks)-1].line
	}
	return token{"", line}
}

func (p *parser) next() token {
	t := p.peek()
	if p.pos < len(p.toks) {
		p.pos++
	}
	return t
}

func (p *parser) expect(s string) error {
	if t := p.next(); t.text != s {
		return p.errorf(t.line, "want %q, found %q", s, t.text)
	}
	return nil
}

func (p *parser) ident() (token, error) {
	t := p.next()
	if !identRE.MatchString(t.text) || keywords[t.text] {
		return t, p.errorf(t.line, "want a name, found %q", t.text)
	}
	return t, nil
}

// keywords are the words of type specifiers, never names.
var keywords = map[string]bool{
	"const": true, "volatile": true, "unsigned": true, "signed": true, "short": true, "long": true, "int": true,
	"char": true, "float": true, "double": true, "void": true, "struct": true, "typedef": true, "extern": true,
	"static": true, "enum": true, "union": true, HostMark: true,
}

// decls parses the declarations.
func (p *parser) decls() error {
	for p.pos < len(p.toks) {
		t := p.peek()
		if t.text == "typedef" {
			if err := p.typedef(); err != nil {
				return err
			}
			continue
		}
		if err := p.function(); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) typedef() error {
	start := p.next()
	if t := p.next(); t.text != "struct" {
		return p.errorf(t.line, "only `typedef struct {...} name;` is supported, found typedef %s", t.text)
	}
	if t := p.peek(); t.text != "{" {
		// A tag: typedef struct tag {...} name;
		if _, err := p.ident(); err != nil {
			return err
		}
	}
	if err := p.expect("{"); err != nil {
		return err
	}
	var fields []Field
	for p.peek().text != "}" {
		if p.peek().text == "" {
			return p.errorf(start.line, "unterminated struct")
		}
		f, err := p.fieldDecl()
		if err != nil {
			return err
		}
		fields = append(fields, f...)
	}
	p.next()
	name, err := p.ident()
	if err != nil {
		return err
	}
	if err := p.expect(";"); err != nil {
		return err
	}
	if len(fields) == 0 {
		return p.errorf(start.line, "struct %s has no fields", name.text)
	}
	p.abi.Structs = append(p.abi.Structs, Struct{Name: name.text, Fields: fields, Line: start.line})
	return nil
}

// fieldDecl parses `type a, *b, c[4];`.
func (p *parser) fieldDecl() ([]Field, error) {
	base, err := p.baseType(false)
	if err != nil {
		return nil, err
	}
	var fields []Field
	for {
		typ := base
		for p.peek().text == "*" {
			p.next()
			typ.Ptr++
			if p.peek().text == "const" {
				p.next()
			}
		}
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		if p.peek().text == "[" {
			p.next()
			n := p.next()
			v, err := strconv.Atoi(n.text)
			if err != nil || v <= 0 {
				return nil, p.errorf(n.line, "array size %q: want a positive decimal number", n.text)
			}
			typ.Array = v
			if err := p.expect("]"); err != nil {
				return nil, err
			}
		}
		if typ.Base == "void" && typ.Ptr == 0 {
			return nil, p.errorf(name.line, "field %s of type void", name.text)
		}
		fields = append(fields, Field{Name: name.text, Type: typ})
		switch t := p.next(); t.text {
		case ",":
			continue
		case ";":
			return fields, nil
		default:
			return nil, p.errorf(t.line, "want , or ; after field %s, found %q", name.text, t.text)
		}
	}
}

// baseType parses the specifiers of a type: const, the base words, and
// HAL_HOST when host is allowed. It returns the type with Ptr 0.
func (p *parser) baseType(params bool) (CType, error) {
	var t CType
	var words []string
	line := p.peek().line
	for {
		tok := p.peek()
		switch tok.text {
		case "const":
			t.Const = true
		case "unsigned", "signed", "long", "short", "int", "char", "float", "double", "void":
			words = append(words, tok.text)
		case "volatile", "struct", "enum", "union", "static", "extern", "typedef":
			return t, p.errorf(tok.line, "%q is not supported in hal.h", tok.text)
		default:
			if tok.text == HostMark {
				if params {
					return t, p.errorf(tok.line, "%s goes first in a parameter, before the type", HostMark)
				}
				return t, p.errorf(tok.line, "%s marks parameters only", HostMark)
			}
			if len(words) == 0 && identRE.MatchString(tok.text) && !keywords[tok.text] {
				// A typedef name: size_t or a struct of hal.h.
				if tok.text != "size_t" && p.abi.Struct(tok.text) == nil {
					return t, p.errorf(tok.line, "unknown type %q", tok.text)
				}
				p.next()
				t.Base = tok.text
				if p.peek().text == "const" {
					p.next()
					t.Const = true
				}
				return t, nil
			}
			if len(words) == 0 {
				return t, p.errorf(line, "want a type, found %q", tok.text)
			}
			base, ok := canonicalBase(words)
			if !ok {
				return t, p.errorf(line, "unsupported type %q", strings.Join(words, " "))
			}
			t.Base = base
			return t, nil
		}
		p.next()
	}
}

// canonicalBase names the integer and floating types that hal.h may use.
func canonicalBase(words []string) (string, bool) {
	counts := map[string]int{}
	for _, w := range words {
		counts[w]++
	}
	unsigned := counts["unsigned"] > 0
	if counts["unsigned"]+counts["signed"] > 1 {
		return "", false
	}
	delete(counts, "unsigned")
	delete(counts, "signed")
	key := fmt.Sprintf("char=%d short=%d int=%d long=%d float=%d double=%d void=%d", counts["char"], counts["short"],
		counts["int"], counts["long"], counts["float"], counts["double"], counts["void"])
	var base string
	switch key {
	case "char=1 short=0 int=0 long=0 float=0 double=0 void=0":
		base = "char"
	case "char=0 short=0 int=1 long=0 float=0 double=0 void=0", "char=0 short=0 int=0 long=0 float=0 double=0 void=0":
		base = "int"
	case "char=0 short=0 int=0 long=2 float=0 double=0 void=0", "char=0 short=0 int=1 long=2 float=0 double=0 void=0":
		base = "long long"
	case "char=0 short=0 int=0 long=0 float=1 double=0 void=0":
		return "float", !unsigned && len(words) == 1
	case "char=0 short=0 int=0 long=0 float=0 double=1 void=0":
		return "double", !unsigned && len(words) == 1
	case "char=0 short=0 int=0 long=0 float=0 double=0 void=1":
		return "void", len(words) == 1
	default:
		// short and long (whose size differs between platforms) are left
		// out: the Go mirrors need one size.
		return "", false
	}
	if unsigned {
		if base == "char" {
			return "unsigned char", true
		}
		return "unsigned " + base, true
	}
	return base, true
}

// function parses `ret name(params);`.
func (p *parser) function() error {
	start := p.peek()
	if start.text == "extern" {
		return p.errorf(start.line, "extern declarations are not supported (extern \"C\" goes in the __cplusplus block)")
	}
	ret, err := p.baseType(false)
	if err != nil {
		return err
	}
	for p.peek().text == "*" {
		p.next()
		ret.Ptr++
	}
	name, err := p.ident()
	if err != nil {
		return err
	}
	if t := p.next(); t.text != "(" {
		return p.errorf(t.line, "%s: only function prototypes and typedef structs are supported, found %q after the name",
			name.text, t.text)
	}
	f := Func{Name: name.text, Ret: ret, Line: start.line}
	if p.peek().text == "void" && p.pos+1 < len(p.toks) && p.toks[p.pos+1].text == ")" {
		p.next()
	}
	for p.peek().text != ")" {
		if len(f.Params) > 0 {
			if err := p.expect(","); err != nil {
				return err
			}
		}
		pr, err := p.param(f.Name, len(f.Params)+1)
		if err != nil {
			return err
		}
		for _, q := range f.Params {
			if q.Name == pr.Name {
				return p.errorf(start.line, "%s: parameter %s declared twice", f.Name, pr.Name)
			}
		}
		f.Params = append(f.Params, pr)
	}
	p.next()
	if err := p.expect(";"); err != nil {
		return err
	}
	if p.abi.Func(f.Name) != nil {
		return p.errorf(start.line, "%s declared twice", f.Name)
	}
	p.abi.Funcs = append(p.abi.Funcs, f)
	return nil
}

func (p *parser) param(fn string, index int) (Param, error) {
	var pr Param
	if p.peek().text == HostMark {
		p.next()
		pr.Host = true
	}
	t, err := p.baseType(true)
	if err != nil {
		return pr, err
	}
	for p.peek().text == "*" {
		p.next()
		t.Ptr++
		if p.peek().text == "const" {
			p.next()
		}
	}
	name := p.peek()
	if name.text == "," || name.text == ")" {
		return pr, p.errorf(name.line, "%s: parameter %d has no name", fn, index)
	}
	if _, err := p.ident(); err != nil {
		return pr, err
	}
	if p.peek().text == "[" {
		return pr, p.errorf(name.line, "%s: array parameter %s: write a pointer", fn, name.text)
	}
	pr.Name, pr.Type = name.text, t
	if pr.Host && t.Ptr == 0 {
		return pr, p.errorf(name.line, "%s: %s marks parameter %s, which is not a pointer", fn, HostMark, name.text)
	}
	if t.Base == "void" && t.Ptr == 0 {
		return pr, p.errorf(name.line, "%s: parameter %s of type void", fn, name.text)
	}
	return pr, nil
}

// check validates what the generator cannot map.
func (a *ABI) check(file string) error {
	fail := func(line int, format string, args ...any) error {
		return &ParseError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	for _, s := range a.Structs {
		if !strings.HasPrefix(s.Name, "hal_") {
			return fail(s.Line, "struct %s: names must start with hal_", s.Name)
		}
		for _, f := range s.Fields {
			if f.Type.Ptr == 0 && a.Struct(f.Type.Base) != nil {
				return fail(s.Line, "struct %s: field %s is a nested struct, which the mirrors do not support", s.Name,
					f.Name)
			}
			if f.Type.Array > 0 && f.Type.Ptr > 0 {
				return fail(s.Line, "struct %s: field %s is an array of pointers", s.Name, f.Name)
			}
		}
	}
	for _, f := range a.Funcs {
		if !strings.HasPrefix(f.Name, "hal_") {
			return fail(f.Line, "%s: entry points must start with hal_", f.Name)
		}
		r := f.Ret
		switch {
		case r.Ptr == 0 && a.Struct(r.Base) == nil:
		case r.Ptr == 1 && r.Base == "char" && r.Const:
		default:
			return fail(f.Line, "%s: return type %s is not supported (a scalar, void or const char*)", f.Name, r)
		}
		for _, q := range f.Params {
			t := q.Type
			if t.Ptr == 0 && a.Struct(t.Base) != nil {
				return fail(f.Line, "%s: struct %s passed by value; pass a pointer", f.Name, t.Base)
			}
			if q.Host && t.Ptr > 1 && !(t.Ptr == 2 && t.Base == "void") {
				return fail(f.Line, "%s: host parameter %s of type %s is not supported", f.Name, q.Name, t)
			}
		}
	}
	return nil
}
