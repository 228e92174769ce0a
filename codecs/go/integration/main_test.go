package integration

import (
	"fmt"
	"os"
	"testing"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/internal/testenv"
)

var dev *testenv.DevServer

// TestMain runs one dev server for the package. A missing `temporal` binary is a failure, never a
// skip: these tests are what proves the codec against the real thing.
func TestMain(m *testing.M) {
	var err error
	dev, err = testenv.StartDevServer()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: integration tests need the Temporal dev server: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	dev.Stop()
	os.Exit(code)
}
