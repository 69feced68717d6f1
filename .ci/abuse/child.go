package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
)

// The legitimate client runs in a process of its own (this program,
// started again with -legit-child), so that it is not scheduled behind
// the abusers' thousands of goroutines in this one: what it measures is
// the server's answer, not this program's run queue. It writes its
// result to its standard output as JSON.
var legitChild = flag.String("legit-child", "", "internal: run only the legitimate client against the API at this address, with -child-dev-dir and -child-issuer, and print its result")

var (
	childDevDir = flag.String("child-dev-dir", "", "internal: the API's DEV_DIR, for -legit-child")
	childIssuer = flag.String("child-issuer", "", "internal: the development issuer's host:port, for -legit-child")
)

// legitWire is a legitResult as the child sends it.
type legitWire struct {
	Elapsed                 time.Duration
	Took                    map[string][]time.Duration
	All                     []time.Duration
	Errors                  map[string]int
	Used                    [][]byte
	Acked, Lost, Unverified int
}

// minterFor makes tokens as the development issuer in dir, listening on
// issuer (host:port), does.
func minterFor(dir, issuer string) *devissuer.Minter {
	devCfg, _, err := devissuer.LoadConfig(dir)
	check(err)
	keys, err := devissuer.OpenKeys(dir, nil)
	check(err)
	_, port, _ := strings.Cut(issuer, ":")
	return &devissuer.Minter{Issuer: devissuer.IssuerURL(port), Audience: devCfg.Audience, Keys: keys}
}

func legitChildMain() {
	res := runLegit(context.Background(), *legitChild, minterFor(*childDevDir, *childIssuer), *duration)
	w := legitWire{Elapsed: res.elapsed, Took: res.took, All: res.all, Errors: res.errors,
		Acked: res.acked, Lost: res.lost, Unverified: res.unverified}
	for _, u := range res.used {
		w.Used = append(w.Used, u.req)
	}
	check(json.NewEncoder(os.Stdout).Encode(w))
}

// runLegitProcess runs the legitimate client for d in a child process.
func runLegitProcess(s *server, d time.Duration) *legitResult {
	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], "-legit-child", s.api, "-child-dev-dir", s.dir, "-child-issuer", s.issuer,
		"-duration", d.String(), "-legit-conns", strconv.Itoa(*legitConns), "-anon-conns", strconv.Itoa(*anonConns),
		"-replay-sample", strconv.Itoa(*replaySample))
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		fail("the legitimate client: %v", err)
	}
	var w legitWire
	if err := json.Unmarshal(out.Bytes(), &w); err != nil {
		fail("the legitimate client's result: %v", err)
	}
	res := &legitResult{elapsed: w.Elapsed, took: w.Took, all: w.All, errors: w.Errors,
		acked: w.Acked, lost: w.Lost, unverified: w.Unverified,
		cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if res.took == nil {
		res.took = map[string][]time.Duration{}
	}
	if res.errors == nil {
		res.errors = map[string]int{}
	}
	for _, u := range w.Used {
		res.used = append(res.used, usedProof{u})
	}
	return res
}
