package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
)

// buildInfo is what the binary knows of its own build, from the build
// information Go writes into it (runtime/debug.ReadBuildInfo).
type buildInfo struct {
	module    string // the main module's path
	version   string // its version: (devel), or v0.0.0-DATE-REVISION[+dirty] from go build
	revision  string // the commit built; "" when Go stamped none
	modified  bool   // the checkout had uncommitted changes
	committed string // the commit's time (vcs.time), RFC 3339
	goVersion string
}

// readBuildInfo describes the running binary.
func readBuildInfo() buildInfo { return describeBuild(debug.ReadBuildInfo()) }

// describeBuild reads bi (ok as debug.ReadBuildInfo returns it). go build
// in a git checkout stamps the revision (vcs.revision, vcs.modified,
// vcs.time); go run, -buildvcs=false and builds outside a checkout do
// not. Go also finds no checkout in a linked git worktree, whose .git is
// a file (go.dev/issue/58218).
func describeBuild(bi *debug.BuildInfo, ok bool) buildInfo {
	if !ok || bi == nil {
		return buildInfo{}
	}
	b := buildInfo{module: bi.Main.Path, version: bi.Main.Version, goVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		case "vcs.time":
			b.committed = s.Value
		}
	}
	return b
}

// writeTo writes b as `api version` prints it: one "name value" a line.
func (b buildInfo) writeTo(w io.Writer) {
	if b.module == "" {
		fmt.Fprintln(w, "module    unknown (the binary holds no build information)")
		return
	}
	fmt.Fprintf(w, "module    %s\nversion   %s\n", b.module, b.version)
	if b.revision == "" {
		fmt.Fprintln(w, "revision  unknown (not stamped: built by go run, with -buildvcs=false, or outside a git clone)")
	} else {
		fmt.Fprintf(w, "revision  %s\nmodified  %t\n", b.revision, b.modified)
		if b.committed != "" {
			fmt.Fprintf(w, "committed %s\n", b.committed)
		}
	}
	fmt.Fprintf(w, "go        %s\n", b.goVersion)
}

// logAttrs are b's attributes in the start-up log line.
func (b buildInfo) logAttrs() []any {
	version, revision := b.version, b.revision
	if version == "" {
		version = "unknown"
	}
	if revision == "" {
		return []any{"version", version, "revision", "unknown"}
	}
	return []any{"version", version, "revision", revision, "modified", b.modified}
}

// runVersion is `api version`: what this binary was built from.
func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("api version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: api version\n\nPrints the module, its version and the VCS revision (commit, uncommitted changes, commit time) this binary was built from.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("version: unexpected argument %q (see -h)", fs.Arg(0))
	}
	readBuildInfo().writeTo(stdout)
	return nil
}
