package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// FaultProxy is a TCP proxy on loopback in front of a server (moto's KMS in tests) that can be
// switched off: while down it cuts every open connection and resets new ones, as a KMS outage
// looks from a worker. Refused counts the connections it reset.
type FaultProxy struct {
	Endpoint string
	target   string
	ln       net.Listener
	down     atomic.Bool
	refused  atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartFaultProxy listens on a free loopback port and forwards to target (host:port).
func StartFaultProxy(target string) (*FaultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{Endpoint: "http://" + ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// SetDown switches the outage on or off; switching it on cuts the connections already open.
func (p *FaultProxy) SetDown(down bool) {
	p.down.Store(down)
	if down {
		p.mu.Lock()
		for c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
	}
}

// Refused is how many connections were reset while down.
func (p *FaultProxy) Refused() int64 { return p.refused.Load() }

// Stop closes the listener and every connection and waits for the forwarding goroutines.
func (p *FaultProxy) Stop() {
	_ = p.ln.Close()
	p.SetDown(true)
	p.wg.Wait()
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			p.refused.Add(1)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, not FIN: a reset, as from a dead endpoint
			}
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *FaultProxy) track(c net.Conn, open bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if open {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *FaultProxy) forward(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	p.track(client, true)
	p.track(server, true)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
	p.track(client, false)
	p.track(server, false)
}
