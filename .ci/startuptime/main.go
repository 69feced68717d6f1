// Command startuptime measures how long a server takes from exec to its
// first 200 answer: it starts the command, asks URL every 100 µs until
// it answers 200, stops the command, and does that -n times. It prints
// the median and the fastest, in milliseconds. .ci/loadtest runs it for
// the bare server and the API. Not part of the API.
//
//	go run ./.ci/startuptime -url http://127.0.0.1:27090/api/public -- ./bare -addr 127.0.0.1:27090
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"time"
)

func main() {
	url := flag.String("url", "", "URL that answers 200 once the server is up")
	n := flag.Int("n", 21, "runs")
	flag.Parse()
	if *url == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: startuptime -url URL [-n runs] -- command [args...]")
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	var took []time.Duration
	for range *n {
		cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "startuptime:", err)
			os.Exit(1)
		}
		for {
			if resp, err := client.Get(*url); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Since(start) > 10*time.Second {
				cmd.Process.Kill()
				fmt.Fprintln(os.Stderr, "startuptime: no 200 within 10s")
				os.Exit(1)
			}
			time.Sleep(100 * time.Microsecond)
		}
		took = append(took, time.Since(start))
		cmd.Process.Kill()
		cmd.Wait()
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("%.1f %.1f\n", ms(took[len(took)/2]), ms(took[0]))
}
