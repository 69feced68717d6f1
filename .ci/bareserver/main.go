// Command bareserver is the reference .ci/loadtest measures the API
// against: a bare net/http server answering /api/public and /api/private
// with the same JSON bodies the API sends, and nothing else: no router, no
// middleware, no logs, no metrics, no token check. Not part of the API.
//
//	go run ./.ci/bareserver -addr 127.0.0.1:27090
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
)

// The bodies the API's quickstart endpoints send (app.Messages), as its
// JSON encoder writes them, newline included.
var (
	public  = []byte(`{"message":"Hello from a public endpoint! You don't need to be authenticated to see this."}` + "\n")
	private = []byte(`{"message":"Hello from a private endpoint! You need to be authenticated to see this."}` + "\n")
)

func main() {
	addr := flag.String("addr", "127.0.0.1:27090", "listen address")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/public", answer(public))
	mux.HandleFunc("GET /api/private", answer(private))
	if err := http.ListenAndServe(*addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, "bareserver:", err)
		os.Exit(1)
	}
}

// answer is the plain handler a net/http tutorial would write.
func answer(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}
