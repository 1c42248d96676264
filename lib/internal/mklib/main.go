// Command mklib generates package lib's Go declarations from the installed
// libssh headers and lib/shim.h, driven by the allow-list in lib/api.txt.
//
// It writes lib/zfuncs.go (one thin cgo wrapper per listed function, which
// calls C through a static C wrapper that clears the upper vector state
// afterwards; see lib/vzeroupper.h) and lib/zconst.go (the listed constants). Run it through `make generate` or
// `go generate ./lib`; CI regenerates and fails on any difference.
//
// Usage: mklib [-include DIR] [-lib DIR]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("mklib: ")
	include := flag.String("include", "", "directory holding libssh/libssh.h (default: from pkg-config)")
	libDir := flag.String("lib", ".", "directory of package lib (holds api.txt and shim.h)")
	flag.Parse()

	if *include == "" {
		out, err := exec.Command("pkg-config", "--variable=includedir", "libssh").Output()
		if err != nil {
			log.Fatalf("pkg-config cannot find libssh (install libssh-dev): %v", err)
		}
		*include = strings.TrimSpace(string(out))
	}
	g, err := load(*include, *libDir)
	if err != nil {
		log.Fatal(err)
	}
	for name, src := range map[string][]byte{"zfuncs.go": g.funcs(), "zconst.go": g.consts()} {
		formatted, err := format.Source(src)
		if err != nil {
			log.Fatalf("formatting %s: %v\n%s", name, err, src)
		}
		if err := os.WriteFile(filepath.Join(*libDir, name), formatted, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// entry is one line of api.txt.
type entry struct {
	kind  string // "func", "enum" or "define"
	names []string
	notes map[string][]string // func: parameter name -> annotations
}

type generator struct {
	version string // libssh version of the headers, for the file header
	headers string // comment-free, preprocessor-free text of the headers
	raw     string // header text with preprocessor lines, for #define lookups
	entries []entry
	funcs_  []*cfunc
}

func load(include, libDir string) (*generator, error) {
	g := &generator{}
	var all, raw strings.Builder
	for _, f := range []string{
		filepath.Join(include, "libssh", "libssh.h"),
		filepath.Join(include, "libssh", "libssh_version.h"),
		filepath.Join(include, "libssh", "callbacks.h"),
		filepath.Join(include, "libssh", "server.h"),
		filepath.Join(libDir, "shim.h"),
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		raw.Write(b)
		raw.WriteByte('\n')
		all.WriteString(stripC(string(b)))
		all.WriteByte('\n')
	}
	g.headers, g.raw = all.String(), raw.String()
	g.version = versionOf(g.raw)

	f, err := os.Open(filepath.Join(libDir, "api.txt"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		e := entry{kind: fields[0], notes: map[string][]string{}}
		switch e.kind {
		case "func":
			if len(fields) < 2 {
				return nil, fmt.Errorf("api.txt: func without a name")
			}
			e.names = fields[1:2]
			for _, n := range fields[2:] {
				param, note, ok := strings.Cut(n, ":")
				if !ok {
					return nil, fmt.Errorf("api.txt: %s: annotation %q is not PARAM:NOTE", fields[1], n)
				}
				e.notes[param] = append(e.notes[param], note)
			}
			fn, err := g.parseFunc(fields[1], e.notes)
			if err != nil {
				return nil, err
			}
			g.funcs_ = append(g.funcs_, fn)
		case "enum", "define":
			e.names = fields[1:]
		default:
			return nil, fmt.Errorf("api.txt: unknown kind %q", e.kind)
		}
		g.entries = append(g.entries, e)
	}
	return g, sc.Err()
}

var (
	blockComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	lineComment  = regexp.MustCompile(`//[^\n]*`)
	preproc      = regexp.MustCompile(`(?m)^[ \t]*#(?:[^\n]*\\\n)*[^\n]*$`)
	spaces       = regexp.MustCompile(`\s+`)
)

// stripC removes comments and preprocessor lines, leaving declarations.
func stripC(s string) string {
	s = blockComment.ReplaceAllString(s, " ")
	s = lineComment.ReplaceAllString(s, " ")
	return preproc.ReplaceAllString(s, " ")
}

func versionOf(raw string) string {
	get := func(name string) string {
		m := regexp.MustCompile(`#define\s+` + name + `\s+(\d+)`).FindStringSubmatch(raw)
		if m == nil {
			return "?"
		}
		return m[1]
	}
	return get("LIBSSH_VERSION_MAJOR") + "." + get("LIBSSH_VERSION_MINOR") + "." + get("LIBSSH_VERSION_MICRO")
}

// cfunc is a parsed C prototype.
type cfunc struct {
	name   string
	ret    string
	params []cparam
	proto  string // normalised prototype, for the doc comment
}

type cparam struct {
	typ, name string
	notes     []string
}

func (p cparam) has(note string) bool {
	for _, n := range p.notes {
		if n == note {
			return true
		}
	}
	return false
}

func (g *generator) parseFunc(name string, notes map[string][]string) (*cfunc, error) {
	re := regexp.MustCompile(`([^;{}]*?)\b` + regexp.QuoteMeta(name) + `\s*\(([^)]*)\)\s*;`)
	m := re.FindStringSubmatch(g.headers)
	if m == nil {
		return nil, fmt.Errorf("%s: no prototype in the libssh headers or shim.h", name)
	}
	ret := m[1]
	for _, w := range []string{"LIBSSH_API", "SSH_DEPRECATED"} {
		ret = strings.ReplaceAll(ret, w, " ")
	}
	fn := &cfunc{name: name, ret: normType(ret)}
	args := strings.TrimSpace(spaces.ReplaceAllString(m[2], " "))
	var protoArgs []string
	if args != "void" && args != "" {
		for _, a := range strings.Split(args, ",") {
			typ, pname := splitParam(a)
			fn.params = append(fn.params, cparam{typ: typ, name: pname, notes: notes[pname]})
			protoArgs = append(protoArgs, strings.TrimSpace(typ+" "+pname))
			delete(notes, pname)
		}
	}
	for p := range notes {
		return nil, fmt.Errorf("%s: api.txt annotates %q, which is not a parameter", name, p)
	}
	fn.proto = fmt.Sprintf("%s %s(%s)", fn.ret, name, strings.Join(protoArgs, ", "))
	return fn, nil
}

// splitParam turns "const char *name" into ("const char *", "name").
func splitParam(a string) (typ, name string) {
	a = strings.TrimSpace(a)
	i := strings.LastIndexFunc(a, func(r rune) bool { return r == ' ' || r == '*' })
	return normType(a[:i+1]), a[i+1:]
}

func normType(t string) string {
	t = strings.TrimSpace(spaces.ReplaceAllString(t, " "))
	t = strings.ReplaceAll(t, " *", "*")
	t = strings.ReplaceAll(t, "*", " *")
	t = strings.ReplaceAll(t, "* *", "**")
	return strings.TrimSpace(t)
}

// handles are the opaque libssh types that package lib wraps.
var handles = map[string]string{
	"ssh_session": "Session",
	"ssh_channel": "Channel",
	"ssh_event":   "Event",
	"ssh_key":     "Key",
	"ssh_counter": "Counter",
	"ssh_bind":    "Bind",
	"ssh_message": "Message",
}

var scalars = map[string][2]string{ // C type -> Go type, C conversion
	"int":          {"int", "C.int"},
	"short":        {"int", "C.short"},
	"unsigned int": {"uint", "C.uint"},
	"long":         {"int64", "C.long"},
	"uint16_t":     {"uint16", "C.uint16_t"},
	"uint32_t":     {"uint32", "C.uint32_t"},
	"uint64_t":     {"uint64", "C.uint64_t"},
	"size_t":       {"int", "C.size_t"},
	"socket_t":     {"int", "C.socket_t"},
}

func goName(c string) string {
	c = strings.TrimPrefix(strings.TrimPrefix(c, "golibssh_"), "ssh_")
	var b strings.Builder
	for _, part := range strings.Split(c, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// funcs returns zfuncs.go. Go calls each C function through a static
// wrapper in the cgo preamble that makes the call and then clears the upper
// vector state (golibssh_vzeroupper, vzeroupper.h), so that no libssh call
// returns to Go with the dirty AVX state its crypto may leave.
func (g *generator) funcs() []byte {
	var b, wrappers bytes.Buffer
	for _, fn := range g.funcs_ {
		if err := g.emitFunc(&b, fn); err != nil {
			log.Fatal(err)
		}
		wrappers.WriteString(fn.wrapper())
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "// Code generated by mklib from the libssh %s headers and shim.h; DO NOT EDIT.\n\n", g.version)
	out.WriteString("package lib\n\n/*\n#include <stdlib.h>\n#include <libssh/libssh.h>\n#include <libssh/server.h>\n#include \"shim.h\"\n#include \"vzeroupper.h\"\n\n")
	out.WriteString("// Each function Go calls, followed by golibssh_vzeroupper.\n")
	out.WriteString("#pragma GCC diagnostic push\n#pragma GCC diagnostic ignored \"-Wdeprecated-declarations\"\n")
	out.Write(wrappers.Bytes())
	out.WriteString("#pragma GCC diagnostic pop\n*/\nimport \"C\"\n\nimport \"unsafe\"\n\nvar _ unsafe.Pointer\n\n")
	out.Write(b.Bytes())
	return out.Bytes()
}

// wrapperPrefix names the preamble wrapper of a C function: the wrapper of
// ssh_connect is golibssh_z_ssh_connect.
const wrapperPrefix = "golibssh_z_"

// wrapper returns the C wrapper of fn: it calls fn with its arguments, then
// golibssh_vzeroupper, and returns fn's result.
func (fn *cfunc) wrapper() string {
	var params, args []string
	for _, p := range fn.params {
		params = append(params, strings.TrimSpace(p.typ+" "+p.name))
		args = append(args, p.name)
	}
	if len(params) == 0 {
		params = []string{"void"}
	}
	call := fn.name + "(" + strings.Join(args, ", ") + ")"
	head := fmt.Sprintf("static inline %s %s%s(%s)\n{\n", fn.ret, wrapperPrefix, fn.name, strings.Join(params, ", "))
	if fn.ret == "void" {
		return head + "    " + call + ";\n    golibssh_vzeroupper();\n}\n"
	}
	return head + "    " + fn.ret + " r = " + call + ";\n    golibssh_vzeroupper();\n    return r;\n}\n"
}

func (g *generator) emitFunc(b *bytes.Buffer, fn *cfunc) error {
	var (
		in, out, pre, post, cargs []string
	)
	for i := 0; i < len(fn.params); i++ {
		p := fn.params[i]
		v := p.name
		if v == "type" || v == "len" || v == "string" {
			v += "_"
		}
		switch {
		case p.has("null"):
			cargs = append(cargs, "nil")
		case p.has("session") && p.typ == "void *":
			in = append(in, v+" Session")
			cargs = append(cargs, "unsafe.Pointer("+v+".p)")
		case handles[strings.TrimPrefix(p.typ, "const ")] != "":
			in = append(in, v+" "+handles[strings.TrimPrefix(p.typ, "const ")])
			cargs = append(cargs, v+".p")
		case scalars[p.typ][0] != "":
			s := scalars[p.typ]
			in = append(in, v+" "+s[0])
			cargs = append(cargs, s[1]+"("+v+")")
		case strings.HasPrefix(p.typ, "enum "):
			in = append(in, v+" int")
			cargs = append(cargs, "C."+strings.ReplaceAll(p.typ, " ", "_")+"("+v+")")
		case p.typ == "const char *":
			in = append(in, v+" string")
			free := "C.free(unsafe.Pointer(c_" + v + "))"
			if p.has("secret") {
				free = "C.golibssh_burn_free(c_" + v + ")"
			}
			if p.has("nullempty") {
				pre = append(pre, "var c_"+v+" *C.char", "if "+v+" != \"\" {", "c_"+v+" = C.CString("+v+")", "defer "+free, "}")
			} else {
				pre = append(pre, "c_"+v+" := C.CString("+v+")", "defer "+free)
			}
			cargs = append(cargs, "c_"+v)
		case (p.typ == "void *" || p.typ == "const void *") && i+1 < len(fn.params) && scalars[fn.params[i+1].typ][0] != "":
			n := fn.params[i+1]
			in = append(in, v+" []byte")
			pre = append(pre, "var p_"+v+" unsafe.Pointer", "if len("+v+") > 0 {", "p_"+v+" = unsafe.Pointer(&"+v+"[0])", "}")
			cargs = append(cargs, "p_"+v, scalars[n.typ][1]+"(len("+v+"))")
			i++
		case p.typ == "char **":
			out = append(out, v+" string")
			pre = append(pre, "var c_"+v+" *C.char")
			cargs = append(cargs, "&c_"+v)
			post = append(post, "if c_"+v+" != nil {", v+" = C.GoString(c_"+v+")", "C.ssh_string_free_char(c_"+v+")", "}")
		case p.typ == "int *":
			out = append(out, v+" int")
			pre = append(pre, "var c_"+v+" C.int")
			cargs = append(cargs, "&c_"+v)
			post = append(post, v+" = int(c_"+v+")")
		case strings.HasSuffix(p.typ, " *") && handles[strings.TrimSuffix(p.typ, " *")] != "":
			h := handles[strings.TrimSuffix(p.typ, " *")]
			out = append(out, v+" "+h)
			cargs = append(cargs, "&"+v+".p")
		default:
			return fmt.Errorf("%s: no Go mapping for parameter %q of type %q (add one to mklib or a helper to shim.h)", fn.name, p.name, p.typ)
		}
	}

	// The first session or channel argument is checked against the
	// session lock in builds with the lockassert tag (lib/lockassert.go);
	// ssh_channel_get_session is how a caller finds which lock that is.
	for _, p := range fn.params {
		if fn.name == "ssh_channel_get_session" {
			break
		}
		if p.has("null") {
			continue
		}
		v := p.name
		if v == "type" || v == "len" || v == "string" {
			v += "_"
		}
		t := strings.TrimPrefix(p.typ, "const ")
		if t == "ssh_session" || p.has("session") && p.typ == "void *" {
			pre = append([]string{"assertSession(unsafe.Pointer(" + v + ".p))"}, pre...)
			break
		}
		if t == "ssh_channel" {
			pre = append([]string{"assertChannel(" + v + ".p)"}, pre...)
			break
		}
	}

	call := "C." + wrapperPrefix + fn.name + "(" + strings.Join(cargs, ", ") + ")"
	var body []string
	switch {
	case fn.ret == "void":
		body = append(body, call)
	case handles[fn.ret] != "":
		out = append([]string{"r " + handles[fn.ret]}, out...)
		body = append(body, "r = "+handles[fn.ret]+"{p: "+call+"}")
	case scalars[fn.ret][0] != "":
		out = append([]string{"r " + scalars[fn.ret][0]}, out...)
		body = append(body, "r = "+scalars[fn.ret][0]+"("+call+")")
	case strings.HasPrefix(fn.ret, "enum "):
		out = append([]string{"r int"}, out...)
		body = append(body, "r = int("+call+")")
	case fn.ret == "const char *":
		out = append([]string{"r string"}, out...)
		body = append(body, "if c := "+call+"; c != nil {", "r = C.GoString(c)", "}")
	case fn.ret == "char *":
		out = append([]string{"r string"}, out...)
		body = append(body, "if c := "+call+"; c != nil {", "r = C.GoString(c)", "C.ssh_string_free_char(c)", "}")
	default:
		return fmt.Errorf("%s: no Go mapping for return type %q", fn.name, fn.ret)
	}

	fmt.Fprintf(b, "// %s calls %s:\n//\n//\t%s\n", goName(fn.name), fn.name, fn.proto)
	fmt.Fprintf(b, "func %s(%s)", goName(fn.name), strings.Join(in, ", "))
	if len(out) > 0 {
		fmt.Fprintf(b, " (%s)", strings.Join(out, ", "))
	}
	b.WriteString(" {\n")
	for _, l := range append(append(pre, body...), post...) {
		b.WriteString(l + "\n")
	}
	if len(out) > 0 {
		b.WriteString("return\n")
	}
	b.WriteString("}\n\n")
	return nil
}

func (g *generator) consts() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by mklib from the libssh %s headers; DO NOT EDIT.\n\n", g.version)
	b.WriteString("package lib\n\n/*\n#include <libssh/libssh.h>\n*/\nimport \"C\"\n\n")
	for _, e := range g.entries {
		switch e.kind {
		case "define":
			b.WriteString("const (\n")
			for _, n := range e.names {
				if !regexp.MustCompile(`(?m)^\s*#\s*define\s+` + regexp.QuoteMeta(n) + `\b`).MatchString(g.raw) {
					log.Fatalf("define %s: not in the libssh headers", n)
				}
				fmt.Fprintf(&b, "%s = C.%s\n", n, n)
			}
			b.WriteString(")\n\n")
		case "enum":
			for _, n := range e.names {
				members, err := g.enumMembers(n)
				if err != nil {
					log.Fatal(err)
				}
				fmt.Fprintf(&b, "// Members of enum %s.\nconst (\n", n)
				for _, m := range members {
					fmt.Fprintf(&b, "%s = C.%s\n", m, m)
				}
				b.WriteString(")\n\n")
			}
		}
	}
	return b.Bytes()
}

func (g *generator) enumMembers(name string) ([]string, error) {
	m := regexp.MustCompile(`enum\s+` + regexp.QuoteMeta(name) + `\s*\{([^}]*)\}`).FindStringSubmatch(g.headers)
	if m == nil {
		return nil, fmt.Errorf("enum %s: not in the libssh headers", name)
	}
	var members []string
	for _, item := range strings.Split(m[1], ",") {
		id, _, _ := strings.Cut(item, "=")
		if id = strings.TrimSpace(id); id != "" {
			members = append(members, id)
		}
	}
	return members, nil
}
