// Command envelope-bench measures the Go codec against a static-key AES-GCM codec (the shape of
// Temporal's samples codec) in the same run, the way bench/codec.bench.ts does for TypeScript:
// round trips (encode + decode) of 10 × 1 KB and 1 × 1 MB, with warm data keys for 100
// workflows, the implementations interleaved (A B C A B C …) over several rounds and the median
// taken, because the machine is shared and noisy. Every figure is printed as a ratio to the
// baseline measured in the same run.
//
//	go run ./cmd/envelope-bench            # about 30 s
//	go run ./cmd/envelope-bench -quick     # a few seconds
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

const workflows = 100

func main() {
	quick := flag.Bool("quick", false, "a short run (fewer rounds, shorter slots)")
	flag.Parse()
	rounds, slot := 5, 500*time.Millisecond
	if *quick {
		rounds, slot = 2, 60*time.Millisecond
	}
	if err := run(os.Stdout, rounds, slot); err != nil {
		fmt.Fprintf(os.Stderr, "envelope-bench: %v\n", err)
		os.Exit(1)
	}
}

type impl struct {
	name  string
	codec func(sc converter.SerializationContext) converter.PayloadCodec
}

type size struct {
	label string
	bytes int
	batch int
}

var sizes = []size{{"1 KB", 1024, 10}, {"1 MB", 1 << 20, 1}}

const baseline = "static-key AES-GCM (baseline)"

func payloadOf(n, i int) *commonpb.Payload {
	return &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: bytes.Repeat([]byte{byte('a' + i%26)}, n)}
}

func ctxOf(i int) converter.SerializationContext {
	return converter.WorkflowSerializationContext{Namespace: "default", WorkflowID: fmt.Sprintf("bench-wf-%d", i%workflows)}
}

func implementations() ([]impl, error) {
	doc, err := keys.NewKeyringDocument()
	if err != nil {
		return nil, err
	}
	ring, err := keys.LocalKeyringFromDocument(doc, nil)
	if err != nil {
		return nil, err
	}
	static, err := newStaticKeyCodec()
	if err != nil {
		return nil, err
	}
	out := []impl{{baseline, func(converter.SerializationContext) converter.PayloadCodec { return static }}}
	for _, alg := range []primitives.Algorithm{primitives.AES256GCM, primitives.XChaCha20Poly1305} {
		c, err := codec.New(codec.Options{KeyProviders: []keys.KeyProvider{ring}, Algorithm: alg})
		if err != nil {
			return nil, err
		}
		name := "envelope AES-256-GCM"
		if alg == primitives.XChaCha20Poly1305 {
			name = "envelope XChaCha20-Poly1305"
		}
		out = append(out, impl{name, c.WithSerializationContext})
	}
	return out, nil
}

func roundTrip(c converter.PayloadCodec, payloads []*commonpb.Payload) error {
	sealed, err := c.Encode(payloads)
	if err != nil {
		return err
	}
	back, err := c.Decode(sealed)
	if err != nil {
		return err
	}
	if len(back) != len(payloads) || !bytes.Equal(back[0].Data, payloads[0].Data) {
		return fmt.Errorf("round trip lost data")
	}
	return nil
}

// opsPerSecond runs op for about d and returns its rate.
func opsPerSecond(d time.Duration, op func(i int) error) (float64, error) {
	start := time.Now()
	n := 0
	for time.Since(start) < d || n < 3 {
		if err := op(n); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func run(w io.Writer, rounds int, slot time.Duration) error {
	impls, err := implementations()
	if err != nil {
		return err
	}
	// The implementations must agree before anything is timed, and every workflow's data key is
	// made once (what a running worker has).
	for _, im := range impls {
		if err := roundTrip(im.codec(ctxOf(3)), []*commonpb.Payload{payloadOf(1024, 3)}); err != nil {
			return fmt.Errorf("%s: %w", im.name, err)
		}
		for i := 0; i < workflows; i++ {
			if err := roundTrip(im.codec(ctxOf(i)), []*commonpb.Payload{payloadOf(10, i)}); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(w, "Go codec round trip (encode + decode), ops/s and ratio to the static-key baseline\n")
	fmt.Fprintf(w, "(%d interleaved rounds of %v per implementation, medians; %s, %s/%s, GOMAXPROCS %d)\n\n", rounds, slot, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"payload", "batch"}
	for _, im := range impls {
		header = append(header, im.name, "ratio")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, sz := range sizes {
		payloads := make([]*commonpb.Payload, sz.batch)
		for i := range payloads {
			payloads[i] = payloadOf(sz.bytes, i)
		}
		samples := make(map[string][]float64)
		for r := 0; r < rounds; r++ {
			for _, im := range impls {
				rate, err := opsPerSecond(slot, func(i int) error { return roundTrip(im.codec(ctxOf(i)), payloads) })
				if err != nil {
					return fmt.Errorf("%s: %w", im.name, err)
				}
				samples[im.name] = append(samples[im.name], rate)
			}
		}
		base := median(samples[baseline])
		row := []string{sz.label, fmt.Sprint(sz.batch)}
		for _, im := range impls {
			ops := median(samples[im.name])
			row = append(row, fmt.Sprintf("%.0f", ops), fmt.Sprintf("%.2f", ops/base))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nratio = ops/s of the implementation ÷ ops/s of the baseline in the same run (1.00: as fast; 0.50: twice the cost)\n")
	return nil
}
