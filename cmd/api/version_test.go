package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
)

func TestVersionFormatting(t *testing.T) {
	const rev = "d67afb8c874c1b428a74a3254b831cd8b35791a6"
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
		log  []any
	}{
		{"go build in a git checkout with changes", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main: debug.Module{Path: "github.com/acme/ourapi", Version: "v0.0.0-20261128072411-d67afb8c874c+dirty"},
			Settings: []debug.BuildSetting{{Key: "-buildmode", Value: "exe"}, {Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-11-28T07:24:11Z"}, {Key: "vcs.modified", Value: "true"}}}, true,
			"module    github.com/acme/ourapi\n" +
				"version   v0.0.0-20261128072411-d67afb8c874c+dirty\n" +
				"revision  d67afb8c874c1b428a74a3254b831cd8b35791a6\n" +
				"modified  true\n" +
				"committed 2026-11-28T07:24:11Z\n" +
				"go        go1.26.8\n",
			[]any{"version", "v0.0.0-20261128072411-d67afb8c874c+dirty", "revision", rev, "modified", true}},
		{"go build of a tagged, clean checkout", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main:     debug.Module{Path: "github.com/acme/ourapi", Version: "v1.2.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-11-28T07:24:11Z"}, {Key: "vcs.modified", Value: "false"}}}, true,
			"module    github.com/acme/ourapi\nversion   v1.2.0\nrevision  " + rev + "\nmodified  false\ncommitted 2026-11-28T07:24:11Z\ngo        go1.26.8\n",
			[]any{"version", "v1.2.0", "revision", rev, "modified", false}},
		{"go run: (devel), no VCS information", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main:     debug.Module{Path: "github.com/example/spaapi", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "-buildmode", Value: "exe"}, {Key: "CGO_ENABLED", Value: "1"}}}, true,
			"module    github.com/example/spaapi\n" +
				"version   (devel)\n" +
				"revision  unknown (not stamped: built by go run, with -buildvcs=false, or outside a git clone)\n" +
				"go        go1.26.8\n",
			[]any{"version", "(devel)", "revision", "unknown"}},
		{"no build information", nil, false,
			"module    unknown (the binary holds no build information)\n",
			[]any{"version", "unknown", "revision", "unknown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := describeBuild(tc.bi, tc.ok)
			var out bytes.Buffer
			b.writeTo(&out)
			if out.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), tc.want)
			}
			if got := fmt.Sprint(b.logAttrs()); got != fmt.Sprint(tc.log) {
				t.Errorf("log attributes: got %s, want %s", got, tc.log)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"version"}, env(nil), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	// A test binary is built by go test, which stamps no revision.
	bi, _ := debug.ReadBuildInfo()
	want := "module    " + bi.Main.Path + "\nversion   (devel)\n" +
		"revision  unknown (not stamped: built by go run, with -buildvcs=false, or outside a git clone)\n" +
		"go        " + bi.GoVersion + "\n"
	if stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("stdout:\n%s\nstderr: %q\nwant stdout:\n%s", stdout.String(), stderr.String(), want)
	}
	err := run(context.Background(), []string{"version", "-v"}, env(nil), io.Discard, io.Discard)
	if err == nil || err.Error() != "flag provided but not defined: -v" {
		t.Errorf("version -v: got %v", err)
	}
	err = run(context.Background(), []string{"version", "now"}, env(nil), io.Discard, io.Discard)
	if err == nil || err.Error() != `version: unexpected argument "now" (see -h)` {
		t.Errorf("version now: got %v", err)
	}
}

// The binary go build makes in a git checkout prints the checkout's HEAD,
// and its start-up log line says the same.
func TestVersionOfBuiltBinary(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed: cannot tell which revision go build should stamp")
	}
	gitOut := func(dir string, args ...string) (string, error) {
		cmd := exec.Command(git, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	bi, _ := debug.ReadBuildInfo()
	module := bi.Main.Path
	bin := filepath.Join(t.TempDir(), "api")
	buildBin := func(dir, pkg string) {
		t.Helper()
		// -buildvcs=true overrides a GOFLAGS=-buildvcs=false, and fails
		// rather than build without a revision when git does.
		cmd := exec.Command("go", "build", "-buildvcs=true", "-o", bin, pkg)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build in %s: %v\n%s", dir, err, out)
		}
	}

	top, err := gitOut(".", "rev-parse", "--show-toplevel")
	if err != nil {
		// Not a checkout (a tarball, an export): nothing to stamp.
		buildBin(".", ".")
		out := versionOf(t, bin)
		if !strings.Contains(out, "\nrevision  unknown (") {
			t.Errorf("built outside a git checkout, the binary claims a revision:\n%s", out)
		}
		return
	}
	head, err := gitOut(".", "rev-parse", "HEAD")
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	var modified bool
	if fi, err := os.Stat(filepath.Join(top, ".git")); err == nil && fi.IsDir() {
		// A clone: build here; Go's vcs.modified is git status --porcelain
		// printing anything.
		status, err := gitOut(top, "status", "--porcelain")
		if err != nil {
			t.Fatalf("git status: %v", err)
		}
		modified = status != ""
		buildBin(".", ".")
	} else {
		// A linked worktree (.git is a file): Go stamps nothing there
		// (go.dev/issue/58218), so build HEAD in a clone of it.
		clone := filepath.Join(t.TempDir(), "clone")
		if out, err := exec.Command(git, "clone", "--quiet", "--shared", "--no-checkout", top, clone).CombinedOutput(); err != nil {
			t.Fatalf("git clone: %v\n%s", err, out)
		}
		if _, err := gitOut(clone, "checkout", "--quiet", "--detach", head); err != nil {
			t.Fatalf("git checkout %s: %v", head, err)
		}
		buildBin(clone, "./cmd/api")
	}

	out := versionOf(t, bin)
	for _, want := range []string{
		"module    " + module + "\n",
		"\nrevision  " + head + "\n",
		fmt.Sprintf("\nmodified  %t\n", modified),
		"\ncommitted 20",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("api version lacks %q:\n%s", want, out)
		}
	}
	version := strings.TrimPrefix(strings.Split(out, "\n")[1], "version   ")

	iss := jwtverifytest.NewIssuer(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{"ISSUER_BASE_URL=" + iss.URL, "AUDIENCE=" + jwtverifytest.Audience, "ADDR=127.0.0.1:0",
		"METRICS_ADDR=off", "DATABASE_URL=memory:"}
	logs := &logBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := logs.waitFor(t, `"msg":"listening"`)
	if line["version"] != version || line["revision"] != head || line["modified"] != modified {
		t.Errorf("listening line: version %v, revision %v, modified %v; want %s, %s, %t",
			line["version"], line["revision"], line["modified"], version, head, modified)
	}
}

// versionOf runs bin version and returns what it printed.
func versionOf(t *testing.T, bin string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "version")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s version: %v\n%s", bin, err, stderr.String())
	}
	return string(out)
}
