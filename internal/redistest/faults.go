package redistest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Fault is what a FaultProxy does to the traffic between clients and Redis.
type Fault int32

const (
	// Pass forwards everything both ways.
	Pass Fault = iota
	// Stall accepts connections and reads commands but neither forwards
	// them nor answers, and forwards nothing Redis sends (no reply, no
	// Pub/Sub message): a Redis that stopped answering (stopped, or cut
	// off without a reset). Nothing reaches Redis.
	Stall
	// Drop closes every open connection when it is set, and every new
	// one at once: a Redis that drops connections (or is down). Nothing
	// reaches Redis.
	Drop
	// Mute forwards commands but drops the replies: Redis runs what it is
	// sent, and the client never hears how it went (a link that fails
	// after the request went out).
	Mute
)

// FaultProxy is a TCP proxy in front of one Redis server whose Fault can
// be changed while clients use it. Create it with NewFaultProxy.
type FaultProxy struct {
	ln       net.Listener
	upstream string
	fault    atomic.Int32
	wg       sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]bool // open, both sides
	closed bool              // Cleanup ran: track nothing more
}

// NewFaultProxy starts a proxy on a loopback port in front of the Redis at
// upstream (host:port), passing traffic until Set says otherwise. Cleanup
// stops it and closes its connections.
func NewFaultProxy(t testing.TB, upstream string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy listener: %v", err)
	}
	p := &FaultProxy{ln: ln, upstream: upstream, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		p.closed = true
		open := make([]net.Conn, 0, len(p.conns))
		for c := range p.conns {
			open = append(open, c)
		}
		p.mu.Unlock()
		for _, c := range open {
			_ = c.Close() // ends its pumps
		}
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's address, for a client's Options.Addr.
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// Set changes what the proxy does, to connections open and to come.
func (p *FaultProxy) Set(f Fault) {
	p.fault.Store(int32(f))
	if f != Drop {
		return
	}
	p.mu.Lock()
	open := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	for _, c := range open {
		_ = c.Close() // ends its pumps, which forget it
	}
}

// track records an open connection, unless the proxy is closed.
func (p *FaultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = true
	return true
}

// forget closes c and drops it from the open connections.
func (p *FaultProxy) forget(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // the listener is closed
		}
		if Fault(p.fault.Load()) == Drop || !p.track(client) {
			_ = client.Close()
			continue
		}
		server, err := net.DialTimeout("tcp", p.upstream, time.Second)
		if err != nil || !p.track(server) {
			p.forget(client)
			if server != nil {
				_ = server.Close()
			}
			continue
		}
		p.wg.Add(2)
		go p.pump(client, server, true)
		go p.pump(server, client, false)
	}
}

// pump copies from src to dst while the fault allows: under Stall
// nothing is forwarded either way, under Mute nothing Redis sends; under
// Drop both connections close.
func (p *FaultProxy) pump(src, dst net.Conn, fromClient bool) {
	defer p.wg.Done()
	defer func() { p.forget(src); p.forget(dst) }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			switch Fault(p.fault.Load()) {
			case Drop:
				return
			case Stall:
				continue
			case Mute:
				if !fromClient {
					continue
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// SingleAddr returns the address of a single-node client (a *redis.Client,
// as Client returns without REDIS_CLUSTER_URL), and false for a cluster.
func SingleAddr(c redis.UniversalClient) (string, bool) {
	one, ok := c.(*redis.Client)
	if !ok {
		return "", false
	}
	return one.Options().Addr, true
}
