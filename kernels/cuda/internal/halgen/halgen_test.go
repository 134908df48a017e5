package halgen

import (
	"os"
	"strings"
	"testing"
)

// tricky is a header with the awkward shapes hal.h may take: comments
// inside and between parameters, prototypes over several lines, a pointer
// star on either side, a struct tag, declarators sharing a type, arrays,
// const after the type, parameters named like Go's and cgo's identifiers,
// and the __cplusplus block.
const tricky = `/* a header comment with a fake prototype: int hal_nope(void); */
#ifndef HAL_TEST_H
#define HAL_TEST_H

#include <stddef.h>

#define HAL_HOST
#define HAL_ABI_VERSION 7
#define HAL_MASK 0xFFu

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hal_pair_tag { float *p, q; long long int n; unsigned flags; char name[16]; } hal_pair;
typedef struct {
    int n;          // rows
    float scale;    /* a comment */
    const float* w; /* device */
} hal_thing_args;

int hal_abi_version(void);
unsigned long long hal_abi_hash(void);
/* Comment before. */
int hal_thing(void* stream, const float *x,   // x [n]
              float* y /* may be NULL */,
              long long n, hal_thing_args const* a);
size_t hal_thing_workspace(const hal_thing_args* a);
int hal_props(int device, HAL_HOST hal_pair* out);
int hal_alloc(HAL_HOST void** ptr, size_t bytes);
int hal_copy_in(void* stream, void* dst, HAL_HOST const void* src, size_t bytes);
int hal_count(HAL_HOST int* count, HAL_HOST unsigned long long* total);
int hal_names(HAL_HOST char* buf, int len);
const char* hal_error_string(int code);
void hal_reset(void);
double hal_keywords(void* C, float* type, int* range, int lib, int anchor_id, const hal_pair* list);

#ifdef __cplusplus
}
#endif

#endif
`

func TestParseTricky(t *testing.T) {
	a, err := Parse("tricky.h", []byte(tricky))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(a.Consts); got != 2 || a.Consts[0].Name != "HAL_ABI_VERSION" || a.Consts[1].Value != "0xFFu" {
		t.Errorf("constants %+v", a.Consts)
	}
	pair := a.Struct("hal_pair")
	if pair == nil {
		t.Fatal("hal_pair not parsed")
	}
	var fields []string
	for _, f := range pair.Fields {
		fields = append(fields, f.Type.Decl(f.Name))
	}
	if got, want := strings.Join(fields, "; "),
		"float* p; float q; long long n; unsigned int flags; char name[16]"; got != want {
		t.Errorf("hal_pair fields %q, want %q", got, want)
	}
	if a.Func("hal_nope") != nil {
		t.Error("a prototype inside a comment was parsed")
	}
	th := a.Func("hal_thing")
	if th == nil || len(th.Params) != 5 {
		t.Fatalf("hal_thing: %+v", th)
	}
	want := []string{"void* stream", "const float* x", "float* y", "long long n", "const hal_thing_args* a"}
	for i, p := range th.Params {
		if got := p.Type.Decl(p.Name); got != want[i] || p.Host {
			t.Errorf("hal_thing parameter %d: %q (host %v), want %q", i, got, p.Host, want[i])
		}
	}
	if th.Line != 25 {
		t.Errorf("hal_thing at line %d, want 25", th.Line)
	}
	if r := a.Func("hal_reset"); r == nil || len(r.Params) != 0 || r.Ret.String() != "void" {
		t.Errorf("hal_reset: %+v", r)
	}
	cnt := a.Func("hal_count")
	if cnt == nil || !cnt.Params[0].Host || !cnt.Params[1].Host || cnt.Params[1].Type.Base != "unsigned long long" {
		t.Errorf("hal_count: %+v", cnt)
	}
}

// TestGoMapping checks the Go side of the tricky header: the interface
// signatures and what the cgo methods pass.
func TestGoMapping(t *testing.T) {
	files, err := Generate([]byte(tricky))
	if err != nil {
		t.Fatal(err)
	}
	goFile, cgoFile := string(files[GoFile]), string(files[CgoFile])
	for _, want := range []string{
		"halABIVersion = 7 ",
		"halMask       = 0xff ",
		"type pair struct {\n\tP     uintptr  // float* p\n\tQ     float32  // float q\n\tN     int64    // long long n\n" +
			"\tFlags uint32   // unsigned int flags\n\tName  [16]byte // char name[16]\n}",
		"\tthing(stream uintptr, x, y dptr, n int64, a *thingArgs) int\n",
		"\tthingWorkspace(a *thingArgs) uint64\n",
		"\tprops(device int, out *pair) int\n",
		"\talloc(ptr *uintptr, bytes uint64) int\n",
		"\tcopyIn(stream, dst uintptr, src unsafe.Pointer, bytes uint64) int\n",
		"\tcount(count *int32, total *uint64) int\n",
		"\tnames(buf *byte, len int) int\n",
		"\terrorString(code int) string\n",
		"\treset()\n",
		// Names that would break the generated code get an underscore; a
		// device struct pointer is a device address.
		"\tkeywords(C_ uintptr, type_, range_ dptr, lib_, anchorID int, list dptr) float64\n",
		`{"offsetof(hal_thing_args, w)", unsafe.Offsetof(thingArgs{}.W)},`,
	} {
		if !strings.Contains(goFile, want) {
			t.Errorf("%s lacks %q", GoFile, want)
		}
	}
	for _, want := range []string{
		"static int t_thing(const hal_fns* fns_, uintptr_t stream, uintptr_t x, uintptr_t y, long long n, " +
			"const hal_thing_args* a) {\n\treturn fns_->thing((void*)stream, (const float*)x, (float*)y, n, a);\n}",
		"static int t_alloc(const hal_fns* fns_, uintptr_t* ptr, size_t bytes) {\n\treturn fns_->alloc((void**)ptr, bytes);",
		"static void t_reset(const hal_fns* fns_) {\n\tfns_->reset();\n}",
		"return int(C.t_thing(lib.f, C.uintptr_t(stream), C.uintptr_t(x), C.uintptr_t(y), C.longlong(n), " +
			"(*C.hal_thing_args)(unsafe.Pointer(a))))",
		"return int(C.t_count(lib.f, (*C.int)(unsafe.Pointer(count)), (*C.ulonglong)(unsafe.Pointer(total))))",
		"return C.GoString(C.t_error_string(lib.f, C.int(code)))",
		"func (lib *cgoLib) reset() {\n\tC.t_reset(lib.f)\n}",
		"return float64(C.t_keywords(lib.f, C.uintptr_t(C_), C.uintptr_t(type_), C.uintptr_t(range_), C.int(lib_), " +
			"C.int(anchorID), C.uintptr_t(list)))",
		"\tout[1] = offsetof(hal_pair, p);\n\tout[2] = sizeof(((hal_pair*)0)->p);\n",
	} {
		if !strings.Contains(cgoFile, want) {
			t.Errorf("%s lacks %q", CgoFile, want)
		}
	}
	if h := string(files[HeaderFile]); !strings.Contains(h, "#define HAL_ABI_HASH 0x") {
		t.Errorf("%s:\n%s", HeaderFile, h)
	}
}

// TestParseErrors: what the generator cannot map is an error naming the
// line.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"int hal_f(long x);", `:1: unsupported type "long"`},
		{"int hal_f(int);", ":1: hal_f: parameter 1 has no name"},
		{"int hal_f(int a,\n float);", ":2: hal_f: parameter 2 has no name"},
		{"int hal_f(int a[4]);", ":1: hal_f: array parameter a"},
		{"int hal_f(int (*cb)(int));", `:1: want a name, found "("`},
		{"#define HAL_HOST\nint hal_f(const HAL_HOST int* a);", ":2: HAL_HOST goes first"},
		{"#define HAL_HOST\nint hal_f(HAL_HOST int a);", "which is not a pointer"},
		{"#define HAL_HOST\nHAL_HOST int* hal_f(void);", "HAL_HOST marks parameters only"},
		{"#if 0\n#endif", ":1: unsupported directive #if"},
		{"#ifdef FOO\n#endif", ":1: only #ifdef __cplusplus"},
		{"#define HAL_F(x) x", "function-like"},
		{"#define HAL_X (1 << 3)", "only integer constants"},
		{"#define OTHER 3", "must start with HAL_"},
		{"typedef struct { int a; } hal_s;\nint hal_f(hal_s s);", ":2: hal_f: struct hal_s passed by value"},
		{"int hal_f(hal_unknown* p);", `unknown type "hal_unknown"`},
		{"int hal_f(void);\nint hal_f(void);", ":2: hal_f declared twice"},
		{"int f(void);", "entry points must start with hal_"},
		{"int* hal_f(void);", "return type int* is not supported"},
		{"typedef int hal_t;", "only `typedef struct"},
		{"int hal_x;", "only function prototypes and typedef structs"},
		{"/* open", "unterminated comment"},
		{"#ifndef G\nint hal_f(void);", ":1: unterminated #if"},
		{"#define HAL_HOST\nint hal_f(HAL_HOST float** p);", "host parameter p of type float** is not supported"},
	} {
		_, err := Parse("h.h", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.src, err, tc.want)
		}
	}
}

// TestHash: comments and spacing leave the hash alone; any change of a
// declaration, a name or a constant changes it.
func TestHash(t *testing.T) {
	base := "#define HAL_C 4\ntypedef struct { int m, n; } hal_a_args;\nint hal_f(void* s, const hal_a_args* a);\n"
	hash := func(src string) uint64 {
		t.Helper()
		a, err := Parse("h.h", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return Hash(a)
	}
	h := hash(base)
	same := "/* new comment */\n#define HAL_C   4\ntypedef struct {\n  int m; // rows\n  int n;\n} hal_a_args;\n" +
		"int hal_f(void *s,\n          const hal_a_args *a);\n"
	if hash(same) != h {
		t.Error("comments, spacing or split declarators changed the hash")
	}
	for _, changed := range []string{
		strings.Replace(base, "HAL_C 4", "HAL_C 5", 1),
		strings.Replace(base, "int m, n;", "int n, m;", 1),
		strings.Replace(base, "int m, n;", "int m; long long n;", 1),
		strings.Replace(base, "void* s", "void* stream", 1),
		strings.Replace(base, "const hal_a_args* a", "hal_a_args* a", 1),
		base + "int hal_g(void);\n",
	} {
		if hash(changed) == h {
			t.Errorf("hash unchanged by\n%s", changed)
		}
	}
}

// TestRealHeader parses kernels/cuda/src/hal.h: every entry point maps.
func TestRealHeader(t *testing.T) {
	src, err := os.ReadFile("../../" + Source)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Generate(src)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := Parse(Source, src)
	if n := strings.Count(string(files[CgoFile]), "\nfunc (lib *cgoLib) "); n != len(a.Funcs) || n < 60 {
		t.Errorf("%d methods for %d entry points", n, len(a.Funcs))
	}
}
