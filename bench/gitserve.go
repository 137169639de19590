package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// gitServer serves the bare repositories under a folder over git's smart
// HTTP protocol (git http-backend behind net/http/cgi) on 127.0.0.1, in the
// harness process, and counts the bytes it sends.
type gitServer struct {
	srv  *http.Server
	url  string
	sent atomic.Int64
	done chan struct{}
}

// startGitServer serves root's repositories at http://127.0.0.1:PORT/NAME.
func startGitServer(ctx context.Context, root string, env []string) (*gitServer, error) {
	execPath, err := git(ctx, root, env, nil, "--exec-path")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &gitServer{url: "http://" + ln.Addr().String(), done: make(chan struct{})}
	backend := &cgi.Handler{
		Path:   filepath.Join(execPath, "git-http-backend"),
		Root:   "/",
		Env:    append(env, "GIT_PROJECT_ROOT="+root, "GIT_HTTP_EXPORT_ALL=1"),
		Logger: log.New(io.Discard, "", 0),
		Stderr: io.Discard,
	}
	g.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			backend.ServeHTTP(&countingWriter{ResponseWriter: w, n: &g.sent}, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	go func() {
		defer close(g.done)
		if err := g.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("bench: git server: %v", err)
		}
	}()
	return g, nil
}

// repoURL is the clone URL of the repository folder name under root.
func (g *gitServer) repoURL(name string) string {
	return g.url + "/" + strings.TrimPrefix(name, "/")
}

func (g *gitServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = g.srv.Shutdown(ctx)
	<-g.done
}

// countingWriter counts the body bytes written to a response.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}
