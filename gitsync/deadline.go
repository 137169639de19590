package gitsync

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/net/proxy"
)

// deadlineScheme names a "proxy" that dials directly and puts a deadline on
// the connection. go-git dials SSH and runs the SSH handshake without the
// sync's context (ClientConfig.Timeout bounds only the TCP connect), so a
// server that accepts the connection and never speaks would hold a sync,
// and the job and its worker, forever. go-git's SSH transport resolves its
// proxy URL through x/net/proxy, which lets a scheme be registered; through
// it, every SSH connection of a sync ends at the sync's deadline.
const deadlineScheme = "wh-gitd-deadline"

func init() {
	proxy.RegisterDialerType(deadlineScheme, newDeadlineDialer)
}

// sshDeadline returns the proxy options that bound an SSH connection by the
// deadline of ctx; none when ctx has no deadline.
func sshDeadline(ctx context.Context) transport.ProxyOptions {
	d, ok := ctx.Deadline()
	if !ok {
		return transport.ProxyOptions{}
	}
	return transport.ProxyOptions{URL: deadlineScheme + "://direct/?until=" + strconv.FormatInt(d.UnixNano(), 10)}
}

// deadlineDialer dials directly; its connections end at until.
type deadlineDialer struct{ until time.Time }

func newDeadlineDialer(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
	n, err := strconv.ParseInt(u.Query().Get("until"), 10, 64)
	if err != nil {
		return nil, errors.New("deadline dialer: no deadline in its URL")
	}
	return &deadlineDialer{until: time.Unix(0, n)}, nil
}

func (d *deadlineDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

// DialContext implements proxy.ContextDialer, which go-git requires.
func (d *deadlineDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithDeadline(ctx, d.until)
	defer cancel()
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(d.until); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
