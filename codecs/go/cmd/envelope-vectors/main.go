// Command envelope-vectors is the Go codec's vector tool (test/cross-language/README.md): seal a
// set of vectors every codec of the project must open, or verify a set another codec sealed.
//
//	go run ./cmd/envelope-vectors generate --out FILE [--hierarchy per-workflow|branch] [--kms-endpoint URL --kms-key ID --region R]
//	go run ./cmd/envelope-vectors verify FILE [--kms-endpoint URL --region R]
//
// generate --hierarchy branch seals format v2 (branch keys); verify opens files of either version.
// verify prints one JSON line {"generator","verifier","opened","rejected","failures"} and exits 0
// only when there are no failures.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = "usage: envelope-vectors generate --out FILE [--hierarchy per-workflow|branch] [--kms-endpoint URL --kms-key ID --region R] | verify FILE [--kms-endpoint URL --region R]\n"

func run(argv []string, stdout, stderr io.Writer) int {
	a, err := parseArgs(argv)
	if err != nil {
		fmt.Fprintf(stderr, "envelope-vectors: %v\n%s", err, usage)
		return 2
	}
	switch a.verb {
	case "generate":
		if err := generate(a); err != nil {
			fmt.Fprintf(stderr, "envelope-vectors generate: %v\n", err)
			return 1
		}
		return 0
	case "verify":
		summary, err := verify(a)
		if err != nil {
			fmt.Fprintf(stderr, "envelope-vectors verify: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, summary.JSON())
		if len(summary.Failures) > 0 {
			return 1
		}
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}

type args struct {
	verb, file, out, kmsEndpoint, kmsKey, region string
	hierarchy                                    primitives.KeyHierarchy
}

func parseArgs(argv []string) (args, error) {
	a := args{hierarchy: primitives.HierarchyPerWorkflow}
	if len(argv) == 0 {
		return a, nil
	}
	a.verb = argv[0]
	rest := argv[1:]
	for i := 0; i < len(rest); i++ {
		flag := rest[i]
		value := func() (string, error) {
			if i+1 >= len(rest) {
				return "", fmt.Errorf("%s needs a value", flag)
			}
			i++
			return rest[i], nil
		}
		var err error
		switch {
		case flag == "--out":
			a.out, err = value()
		case flag == "--kms-endpoint":
			a.kmsEndpoint, err = value()
		case flag == "--kms-key":
			a.kmsKey, err = value()
		case flag == "--region":
			a.region, err = value()
		case flag == "--hierarchy":
			var h string
			if h, err = value(); err == nil {
				if h != string(primitives.HierarchyPerWorkflow) && h != string(primitives.HierarchyBranch) {
					err = fmt.Errorf("--hierarchy expected per-workflow or branch, got %q", h)
				}
				a.hierarchy = primitives.KeyHierarchy(h)
			}
		case len(flag) > 0 && flag[0] != '-' && a.file == "":
			a.file = flag
		default:
			err = fmt.Errorf("unknown argument %s", flag)
		}
		if err != nil {
			return a, err
		}
	}
	return a, nil
}
