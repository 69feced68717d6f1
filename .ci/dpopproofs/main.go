// Command dpopproofs prints DPoP proofs made with the development DPoP key
// (the one `api token -dpop` binds tokens to), one per line, each with its
// own jti: for load tests, where every request needs a fresh proof and wrk
// cannot sign. Not part of the API.
//
//	go run ./.ci/dpopproofs -dev-dir DIR -url http://127.0.0.1:18280/api/private -token "$T" -n 100000 >proofs.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
)

func main() {
	dir := flag.String("dev-dir", "", "the development issuer's directory (holds dpop-key.pem)")
	url := flag.String("url", "", "the URL the requests go to")
	method := flag.String("method", "GET", "their method")
	token := flag.String("token", "", "the access token they carry")
	n := flag.Int("n", 1000, "how many proofs")
	flag.Parse()
	if *dir == "" || *url == "" || *token == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "dpopproofs: -dev-dir, -url, -token and -n are required")
		os.Exit(2)
	}
	priv, err := devissuer.OpenDPoPKey(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dpopproofs:", err)
		os.Exit(1)
	}
	key, err := dpop.NewSigner(priv, "ES256")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dpopproofs:", err)
		os.Exit(1)
	}
	proofs := make([]string, *n)
	now := time.Now()
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(proofs); i += workers {
				p, err := key.Proof(*method, *url, *token, "", now)
				if err != nil {
					fmt.Fprintln(os.Stderr, "dpopproofs:", err)
					os.Exit(1)
				}
				proofs[i] = p
			}
		})
	}
	wg.Wait()
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	for _, p := range proofs {
		out.WriteString(p)
		out.WriteByte('\n')
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "dpopproofs:", err)
		os.Exit(1)
	}
}
