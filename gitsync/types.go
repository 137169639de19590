package gitsync

import "time"

// Auth names the credentials for a remote. Files are read on every sync so
// that rotated keys and tokens take effect without a restart.
type Auth struct {
	// SSHKeyFile is a private key (ssh:// and scp-style remotes).
	SSHKeyFile string
	// KnownHostsFile is required with SSHKeyFile: host keys are always checked.
	KnownHostsFile string
	// TokenFile holds an HTTPS token, sent as basic auth with Username.
	TokenFile string
	// Username goes with the token.
	Username string
}

// Target says which working copy to bring to which commit.
type Target struct {
	// Remote is the URL or local path fetched from. Only this is ever fetched.
	Remote string
	// Path is the working copy; its parent must exist, the copy is created.
	Path string
	// Ref is the full name of the ref to fetch: refs/heads/B or refs/tags/T.
	Ref string
	// Commit is the exact full SHA-1 to check out; empty means the ref's tip.
	Commit string
	// Depth is the fetch depth; 0 means full history. With go-git a shallow
	// fetch downloads the commit's whole tree every time (no thin packs).
	Depth int
	// Clean removes untracked and ignored files as well.
	Clean bool
	// Submodules initialises and updates submodules after the checkout.
	Submodules bool
	// Auth is how the remote is reached.
	Auth Auth
	// Timeout bounds the whole sync; zero means no bound beyond ctx.
	Timeout time.Duration
}

// Result says what a sync did.
type Result struct {
	// Commit is the full SHA now checked out.
	Commit string
	// Previous is the commit checked out before, empty after a clone.
	Previous string
	// Cloned is true when the working copy was created by this sync (or
	// had no commit checked out yet, after a first sync that failed).
	Cloned bool
	// Written and Removed count the files the checkout changed.
	Written, Removed int
	// Overwritten lists tracked files whose local edits were replaced (or
	// removed, when the commit deletes them), and untracked files that stood
	// where the target commit has a file (a directory ends with "/").
	Overwritten []string
	// Cleaned counts the untracked and ignored paths removed because
	// Target.Clean was set (a removed directory counts once).
	Cleaned int
}
