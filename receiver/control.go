package receiver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// ErrControlInUse means a live daemon answers on the control socket.
var ErrControlInUse = errors.New("another wh-gitd answers on the control socket")

// maxSocketPath is the longest path a Unix socket can be bound to on Linux
// (sun_path holds 108 bytes with the terminating NUL).
const maxSocketPath = 107

// Control serves the job API's routes (/api/...) with no token check, for
// the control socket: the socket file's mode decides who may connect.
// Every other path answers 404.
func (h *Handler) Control() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range h.apiRoutes() {
		mux.HandleFunc(rt.pattern, rt.serve)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fail(w, http.StatusNotFound, "no such endpoint")
	})
	return mux
}

// ListenControl listens on the control socket at path and makes it mode
// 0660, so that the daemon's user and group may connect and nobody else. A
// socket file that nothing answers on (left by a daemon that died) is
// replaced; one that a live daemon answers on is ErrControlInUse; a file
// that is not a socket is left alone and is an error. Closing the listener
// removes the socket file.
func ListenControl(path string) (*net.UnixListener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("listen on control socket %s: the path is longer than a socket's %d bytes",
			path, maxSocketPath)
	}
	ln, err := listenUnix(path)
	if errors.Is(err, syscall.EADDRINUSE) {
		if err := removeStale(path); err != nil {
			return nil, err
		}
		ln, err = listenUnix(path)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("set mode of control socket: %w", err)
	}
	return ln, nil
}

func listenUnix(path string) (*net.UnixListener, error) {
	return net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
}

// answers reports whether an HTTP server answers on conn within 5 s. A
// connection can be taken by a listening socket that nobody serves any
// more (its file descriptor outlived the daemon in a process it started):
// that one is as stale as a refused one.
func answers(conn net.Conn) bool {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return false
	}
	head := make([]byte, 5)
	_, err := io.ReadFull(conn, head)
	return err == nil && string(head) == "HTTP/"
}

// removeStale removes the socket file at path when nothing answers on it.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("check control socket: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("listen on control socket: %s is in the way and is not a socket", path)
	}
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err == nil {
		live := answers(conn)
		conn.Close()
		if live {
			return fmt.Errorf("%w (%s)", ErrControlInUse, path)
		}
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("check control socket: %w", err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale control socket: %w", err)
	}
	return nil
}
