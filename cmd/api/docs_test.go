package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The documentation is checked here, beside the binary it describes:
// links in the Markdown files must lead somewhere, and every environment
// variable the binary reads must be in docs/configuration.md.

// configurationDoc is where every variable the binary reads is documented.
const configurationDoc = "docs/configuration.md"

// TestConfigurationDocumentsEveryVariable reads the variable names from
// the code, not from a list kept by hand: from the Go source of cmd/api and
// of every package of this module it imports (see sourceVariables), and
// from the names loadConfig asks its getenv for, run for every provider.
func TestConfigurationDocumentsEveryVariable(t *testing.T) {
	root := repoRoot(t)
	found, err := sourceVariables(root, "cmd/api")
	if err != nil {
		t.Fatal(err)
	}
	for name, where := range runtimeVariables(t) {
		if _, ok := found[name]; !ok {
			found[name] = where
		}
	}
	doc, err := os.ReadFile(filepath.Join(root, configurationDoc))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range undocumented(found, string(doc)) {
		t.Errorf("the binary reads the environment variable %s (%s), but %s does not name it: add it to %s",
			name, found[name], configurationDoc, configurationDoc)
	}
	t.Logf("checked the %d variables the binary reads against %s", len(found), configurationDoc)
}

// variableName is what an environment variable read by this program looks
// like; string literals in the places searched that do not fit are not
// variables (flag names such as "audience" go through the same getters).
var variableName = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)

// sourceVariables finds the environment variables read by the non-test Go
// files of the package in dir (relative to root) and of every package of
// this module it imports, as the build would select them. They are string
// literals in three places:
//
//   - the settings tables of cmd/api: setting{envs: []string{"ADDR"}, ...};
//   - each provider's settings: jwtverify.Setting{Var: "KEYCLOAK_URL", ...};
//   - calls that read the environment by name: getenv("DEV_DIR"),
//     os.Getenv("X"), os.LookupEnv("X").
//
// It maps each name to the first place it was found (file:line). It fails
// when a place yields nothing, so that a renamed field or function cannot
// make the check pass by finding no variables.
func sourceVariables(root, dir string) (map[string]string, error) {
	module, err := modulePath(root)
	if err != nil {
		return nil, err
	}
	found := map[string]string{}
	kinds := map[string]int{} // how many names each place yielded
	note := func(kind, name string, pos token.Position) {
		if !variableName.MatchString(name) {
			return
		}
		kinds[kind]++
		if _, ok := found[name]; !ok {
			rel, _ := filepath.Rel(root, pos.Filename)
			found[name] = fmt.Sprintf("%s:%d", filepath.ToSlash(rel), pos.Line)
		}
	}
	fset := token.NewFileSet()
	seen := map[string]bool{dir: true}
	for queue := []string{dir}; len(queue) > 0; queue = queue[1:] {
		pkg, err := build.Default.ImportDir(filepath.Join(root, queue[0]), 0)
		if err != nil {
			return nil, err
		}
		for _, imp := range pkg.Imports {
			rel, ok := strings.CutPrefix(imp, module)
			if !ok || (rel != "" && rel[0] != '/') {
				continue
			}
			rel = strings.TrimPrefix(rel, "/")
			if rel == "" {
				rel = "."
			}
			if !seen[rel] {
				seen[rel] = true
				queue = append(queue, rel)
			}
		}
		for _, name := range slices.Concat(pkg.GoFiles, pkg.CgoFiles) {
			f, err := parser.ParseFile(fset, filepath.Join(pkg.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				return nil, err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.KeyValueExpr:
					key, _ := n.Key.(*ast.Ident)
					switch {
					case key == nil:
					case key.Name == "envs":
						if list, ok := n.Value.(*ast.CompositeLit); ok {
							for _, e := range list.Elts {
								if s, ok := stringLit(e); ok {
									note("envs", s, fset.Position(e.Pos()))
								}
							}
						}
					case key.Name == "Var":
						if s, ok := stringLit(n.Value); ok {
							note("Var", s, fset.Position(n.Value.Pos()))
						}
					}
				case *ast.CallExpr:
					var fn string
					switch f := n.Fun.(type) {
					case *ast.Ident:
						fn = f.Name
					case *ast.SelectorExpr:
						fn = f.Sel.Name
					}
					if (fn == "getenv" || fn == "Getenv" || fn == "LookupEnv") && len(n.Args) == 1 {
						if s, ok := stringLit(n.Args[0]); ok {
							note("getenv", s, fset.Position(n.Args[0].Pos()))
						}
					}
				}
				return true
			})
		}
	}
	for _, kind := range []string{"envs", "Var", "getenv"} {
		if kinds[kind] == 0 {
			return nil, fmt.Errorf("no environment variable found in %s's source as %s: the code reads its settings another way now; update sourceVariables", dir, kind)
		}
	}
	return found, nil
}

// stringLit returns the value of a string literal.
func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// runtimeVariables runs loadConfig as users do — with -dev, and for every
// AUTH_PROVIDER with nothing else set — with a getenv that records the
// names asked for. It catches names the source search cannot see (built
// at run time, or passed through a table of another shape).
func runtimeVariables(t *testing.T) map[string]string {
	t.Helper()
	found := map[string]string{}
	record := func(how string, env map[string]string) func(string) string {
		return func(name string) string {
			if _, ok := found[name]; !ok {
				found[name] = "read by loadConfig " + how
			}
			return env[name]
		}
	}
	devDir := t.TempDir()
	if _, err := loadConfig([]string{"-dev"}, record("with -dev", map[string]string{"DEV_DIR": devDir}), io.Discard); err != nil {
		t.Fatalf("loadConfig -dev: %v", err)
	}
	for _, name := range providerNames() {
		// Most providers stop at their first missing setting; what they
		// read up to there is what is recorded.
		loadConfig(nil, record("with AUTH_PROVIDER="+name, map[string]string{"AUTH_PROVIDER": name}), io.Discard)
	}
	return found
}

// undocumented returns, sorted, the names in found that doc does not name
// as a whole word (HS256_SECRET_FILE does not name HS256_SECRET).
func undocumented(found map[string]string, doc string) []string {
	var missing []string
	for name := range found {
		if !regexp.MustCompile(`(^|[^A-Za-z0-9_])` + regexp.QuoteMeta(name) + `($|[^A-Za-z0-9_])`).MatchString(doc) {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	return missing
}

// TestUndocumentedVariables checks the check: a variable absent from the
// document, or present only inside a longer name, is reported.
func TestUndocumentedVariables(t *testing.T) {
	found := map[string]string{"ADDR": "a", "HS256_SECRET": "b", "REDIS_URL": "c", "PORT": "d"}
	doc := "| `ADDR` / `PORT` | listen address |\n| `HS256_SECRET_FILE` | a file |\nREDIS_URLS is not it\n"
	got := undocumented(found, doc)
	if want := []string{"HS256_SECRET", "REDIS_URL"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestSourceVariablesFindsEachPlace checks the source search on a module
// of its own: a settings table, a provider's Var, and getenv calls, in the
// package and in a package it imports; not in tests, nor in a package it
// does not import.
func TestSourceVariablesFindsEachPlace(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/m\n\ngo 1.26\n",
		"cmd/x/main.go": `package main

import (
	"os"

	"example.com/m/lib"
)

type setting struct{ envs []string }

var settings = []setting{{envs: []string{"FIRST", "SECOND"}}}

func main() { _ = os.Getenv("THIRD"); lib.F(os.Getenv) }
`,
		"cmd/x/main_test.go": "package main\n\nimport \"os\"\n\nvar _ = os.Getenv(\"ONLY_TESTS\")\n",
		"lib/lib.go": `package lib

type Setting struct{ Flag, Var string }

var Settings = []Setting{{Flag: "lib-x", Var: "LIB_X"}}

func F(getenv func(string) string) { getenv("LIB_Y"); getenv("lowercase-is-a-flag") }
`,
		"other/other.go": "package other\n\nimport \"os\"\n\nvar _ = os.Getenv(\"NOT_IMPORTED\")\n",
	}
	for name, text := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	found, err := sourceVariables(root, "cmd/x")
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(func(yield func(string) bool) {
		for name := range found {
			if !yield(name) {
				return
			}
		}
	})
	if want := []string{"FIRST", "LIB_X", "LIB_Y", "SECOND", "THIRD"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if found["LIB_Y"] != "lib/lib.go:7" {
		t.Errorf("LIB_Y found at %q, want lib/lib.go:7", found["LIB_Y"])
	}
}

// markdownFiles are the documents whose links are checked, relative to
// the repository root.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md", "web/README.md"}
	for _, d := range docs {
		rel, _ := filepath.Rel(root, d)
		files = append(files, filepath.ToSlash(rel))
	}
	return files
}

// TestDocsLinks checks every relative link of README.md, docs/*.md and
// web/README.md: the file or directory must exist in the repository, and
// an #anchor must be a heading of the Markdown file it points into.
func TestDocsLinks(t *testing.T) {
	root := repoRoot(t)
	files := markdownFiles(t, root)
	if len(files) < 3 {
		t.Fatalf("found only %v: where are docs/*.md?", files)
	}
	for _, problem := range checkLinks(root, files) {
		t.Error(problem)
	}
}

// TestCheckLinksFindsBrokenLinks checks the check on documents of its own.
func TestCheckLinksFindsBrokenLinks(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"README.md": "# Title\n\n## Make it yours\n\n" +
			"[ok](docs/a.md) [ok](docs/a.md#the-api-command) [ok](#make-it-yours) [ok](docs) [ok](https://example.com/x.md)\n" +
			"[missing file](docs/nope.md)\n" +
			"[missing anchor](docs/a.md#nope)\n" +
			"`[in code](nope.md)`\n\n```sh\n[in a block](nope.md)\n```\n" +
			"[outside](../x.md)\n" +
			"[ref]: docs/gone.md\n",
		"docs/a.md": "# A\n\n## The `api` command\n\n## Repeated\n\n## Repeated\n\n```\n# not a heading\n```\n" +
			"[ok](../README.md#title) [ok](#repeated-1) [ok](a.md#a) [bad](#not-a-heading) [ok line](../go.mod#L1)\n",
		"go.mod": "module m\n",
	}
	for name, text := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := checkLinks(root, []string{"README.md", "docs/a.md"})
	want := []string{
		"README.md:6: docs/nope.md: no such file or directory",
		"README.md:7: docs/a.md#nope: docs/a.md has no heading #nope",
		"README.md:13: ../x.md: outside the repository",
		"README.md:14: docs/gone.md: no such file or directory",
		"docs/a.md:12: #not-a-heading: docs/a.md has no heading #not-a-heading",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var (
	// inlineLink matches [text](target) and ![alt](target), with an
	// optional title; the target is group 1.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	// referenceLink matches a link reference definition: [label]: target.
	referenceLink = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	// codeSpan matches inline code, whose brackets are not links.
	codeSpan = regexp.MustCompile("`+[^`]*`+")
	// hasScheme matches absolute URLs (https:, mailto:, ...).
	hasScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// lineAnchor is GitHub's anchor of a line or lines of a source file.
	lineAnchor = regexp.MustCompile(`^L[0-9]+(-L[0-9]+)?$`)
)

// checkLinks returns one line per broken relative link in files (paths
// relative to root): "file:line: target: problem".
func checkLinks(root string, files []string) []string {
	anchors := map[string]map[string]bool{} // by file, relative to root
	anchorsOf := func(rel string) (map[string]bool, error) {
		if a, ok := anchors[rel]; ok {
			return a, nil
		}
		text, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return nil, err
		}
		anchors[rel] = headingAnchors(string(text))
		return anchors[rel], nil
	}
	var problems []string
	for _, file := range files {
		text, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", file, err))
			continue
		}
		for _, l := range markdownLines(string(text)) {
			line := codeSpan.ReplaceAllString(l.text, "")
			var targets []string
			for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
				targets = append(targets, m[1])
			}
			if m := referenceLink.FindStringSubmatch(line); m != nil {
				targets = append(targets, m[1])
			}
			for _, target := range targets {
				if problem := checkLink(root, file, target, anchorsOf); problem != "" {
					problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", file, l.n, target, problem))
				}
			}
		}
	}
	return problems
}

// checkLink checks one link target of file, returning what is wrong with
// it or "".
func checkLink(root, file, target string, anchorsOf func(string) (map[string]bool, error)) string {
	if target == "" || hasScheme.MatchString(target) || strings.HasPrefix(target, "//") {
		return "" // absolute: not checked here
	}
	path, fragment, _ := strings.Cut(target, "#")
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	rel := file // a bare #anchor points into the file itself
	if path != "" {
		rel = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(file), path)))
		if rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(path) {
			return "outside the repository"
		}
	}
	info, err := os.Stat(filepath.Join(root, rel))
	if err != nil {
		return "no such file or directory"
	}
	if fragment == "" {
		return ""
	}
	if !strings.HasSuffix(rel, ".md") || info.IsDir() {
		if lineAnchor.MatchString(fragment) && !info.IsDir() {
			return ""
		}
		return fmt.Sprintf("#%s: only Markdown files have heading anchors", fragment)
	}
	anchors, err := anchorsOf(rel)
	if err != nil {
		return err.Error()
	}
	if !anchors[fragment] {
		return fmt.Sprintf("%s has no heading #%s", rel, fragment)
	}
	return ""
}

// mdLine is a line of a Markdown text and its number (from 1).
type mdLine struct {
	n    int
	text string
}

// markdownLines returns the lines of a Markdown text outside fenced code
// blocks.
func markdownLines(text string) []mdLine {
	var lines []mdLine
	fence := "" // the open fence's marker, "" outside a block
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]+" ") == "" {
				fence = ""
			}
			continue
		}
		if len(line)-len(trimmed) < 4 && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			fence = trimmed[:len(trimmed)-len(strings.TrimLeft(trimmed, trimmed[:1]))]
			continue
		}
		lines = append(lines, mdLine{n, line})
	}
	return lines
}

var (
	atxHeading = regexp.MustCompile(`^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	linkText   = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown text (and explicit <a name> or <a id> anchors).
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	for _, l := range markdownLines(text) {
		line := l.text
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := slugify(m[1])
		anchor := slug
		for i := 1; anchors[anchor]; i++ {
			anchor = fmt.Sprintf("%s-%d", slug, i)
		}
		anchors[anchor] = true
	}
	return anchors
}

// slugify is GitHub's anchor for a heading's text: the text as rendered
// (links as their text, no code or emphasis marks), lower case, spaces to
// '-', and every character but letters, digits, '-' and '_' dropped.
func slugify(heading string) string {
	heading = linkText.ReplaceAllString(heading, "$1")
	heading = strings.NewReplacer("`", "", "*", "").Replace(heading)
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSlugify(t *testing.T) {
	for _, tt := range []struct{ heading, want string }{
		{"DPoP (sender-constrained tokens)", "dpop-sender-constrained-tokens"},
		{"The API against a bare `net/http` server", "the-api-against-a-bare-nethttp-server"},
		{"Use your Auth0 tenant", "use-your-auth0-tenant"},
		{"What is checked in a JWT", "what-is-checked-in-a-jwt"},
		{"Shared secret (HS256)", "shared-secret-hs256"},
		{"`TOKEN_CACHE_SIZE` and friends", "token_cache_size-and-friends"},
		{"See [the docs](docs/x.md) now", "see-the-docs-now"},
		{"Make it yours!", "make-it-yours"},
		{"Ünïcode héading", "ünïcode-héading"},
	} {
		if got := slugify(tt.heading); got != tt.want {
			t.Errorf("slugify(%q): got %q, want %q", tt.heading, got, tt.want)
		}
	}
}

// repoRoot is the repository's root: the nearest parent with go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// modulePath reads the module path from root's go.mod.
func modulePath(root string) (string, error) {
	text, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(text)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", fmt.Errorf("%s: no module line", filepath.Join(root, "go.mod"))
}
