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
	// Token is an HTTPS token given as it is (one minted for this sync,
	// such as a GitHub App's installation token), used like TokenFile's.
	Token string
}

// Target says which working copy to bring to which commit.
type Target struct {
	// Remote is the URL or local path fetched from. Only this is ever fetched.
	Remote string
	// Path is the working copy; its parent must exist, the copy is created.
	Path string
	// Ref is the ref to fetch: refs/heads/B, refs/tags/T, or a short name
	// (a GitHub deployment's ref) that the remote resolves as git does
	// (refs/tags/N before refs/heads/N). Empty only with Commit: then the
	// commit is fetched by its hash, or found by deepening Fallback.
	Ref string
	// Commit is the exact full SHA-1 to check out; empty means the ref's tip.
	Commit string
	// Delivered, with an empty Commit (a push), is the commit the forge said
	// was pushed: the ref's tip is checked out all the same, and
	// Result.Delivered says how the delivered commit relates to it.
	Delivered string
	// Fallback is the branch (refs/heads/B) fetched, and deepened, to find
	// Commit when Ref is empty or names nothing on the remote.
	Fallback string
	// Depth is the fetch depth; 0 means full history.
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

// How Target.Delivered relates to the tip that was checked out.
const (
	// DeliveredTip: the delivered commit is the tip.
	DeliveredTip = "tip"
	// DeliveredAncestor: the delivered commit is in the tip's history.
	DeliveredAncestor = "ancestor"
	// DeliveredNotInHistory: the tip's whole history was searched and the
	// delivered commit is not in it (the branch was force-pushed past it).
	DeliveredNotInHistory = "not_in_history"
	// DeliveredUnknown: the delivered commit is not in the history fetched
	// (a shallow copy), so whether it is in the tip's history is not known.
	DeliveredUnknown = "beyond_fetched_history"
)

// Result says what a sync did.
type Result struct {
	// Commit is the full SHA now checked out.
	Commit string `json:"commit"`
	// Previous is the commit checked out before, empty after a clone.
	Previous string `json:"previous,omitempty"`
	// Tip is what Target.Ref pointed at when it was fetched, when it was.
	Tip string `json:"tip,omitempty"`
	// Delivered says how Target.Delivered relates to the tip (Delivered*
	// constants); empty when Target.Delivered was.
	Delivered string `json:"delivered,omitempty"`
	// Subject and Author are the first line of Commit's message and its
	// author's name.
	Subject string `json:"subject,omitempty"`
	Author  string `json:"author,omitempty"`
	// Cloned is true only when this sync made the working copy's first
	// clone (never for a repair of an existing one).
	Cloned bool `json:"cloned"`
	// Written and Removed count the files the checkout changed.
	Written int `json:"written"`
	Removed int `json:"removed"`
	// Overwritten lists tracked files whose local edits were replaced (or
	// removed, when the commit deletes them), and untracked files that stood
	// where the target commit has a file (a directory ends with "/").
	Overwritten []string `json:"overwritten,omitempty"`
	// Cleaned counts the untracked and ignored paths removed because
	// Target.Clean was set (a removed directory counts once).
	Cleaned int `json:"cleaned,omitempty"`
}
