// otlpsink is the OpenTelemetry Collector's own OTLP receiver (OTLP/HTTP on
// the address given as its argument) counting the spans it receives, for
// .ci/loadtest-traces; it prints the count when stopped. Not linked into
// the API.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

func main() {
	var spans atomic.Int64
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC = configoptional.None[configgrpc.ServerConfig]()
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = os.Args[1]
	c, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error { spans.Add(int64(td.SpanCount())); return nil })
	r, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, c)
	if err != nil {
		panic(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		panic(err)
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	<-ch
	_ = r.Shutdown(context.Background())
	fmt.Println("spans received:", spans.Load())
}
