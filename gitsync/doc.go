// Package gitsync owns one thing: bringing one local working copy of a git
// repository to one exact commit, with go-git. It clones on first use
// (creating the working copy, or adopting a clone made with git), fetches
// one ref from the configured remote (shallow by default): a branch, a tag,
// or a short name the remote resolves as git does. It makes sure the wanted
// commit is present (fetched by its hash where the server allows it, else
// found by deepening the ref or a fallback branch), and writes the working
// tree and the index of that commit itself. Without a wanted commit (a
// push) it checks out the ref's tip and says how the delivered commit
// relates to it.
//
// A sync that fails leaves nothing to repair: what its fetch left half-done
// is undone, and a checkout that stops part-way writes an index that
// describes the files on disk. Only a sync that was killed (its marker left
// in .git) is repaired by the next one, which makes .git anew and fetches
// again, keeping the old index as the baseline of its checkout, so the tree
// still ends as the commit plus the untracked files.
//
// The checkout behaves like `git reset --hard`, not like go-git's
// Worktree.Reset(HardReset) or Checkout{Force: true}, which delete untracked
// and ignored files: tracked files with local edits, and untracked files
// standing where the commit has a file, are overwritten (and reported);
// every other untracked or ignored file (.env, node_modules/, uploads/)
// survives unless Target.Clean asks for `git clean -ffdx`. Local edits are
// found from the index's stat data; the working tree is never walked except
// for a clean. A sync that finds the index and the files already at the
// commit writes nothing in .git (no lock, no ref) beyond its own marker.
// Content is written byte for byte as stored: no smudge filters, no
// line-ending conversion, no Git LFS. Files are created by writers on
// goroutines of their own, one directory to one writer; in a checkout of
// many files they read the whole blobs from the packs themselves
// (blobread.go), so that inflating runs on every core beside the file
// creation. A first clone into an empty folder writes most of its files
// while the pack is still arriving (early.go): the pack's first read
// inflates every object anyway, and each small blob the commit's trees
// name is handed to the writers there, once its hash proves it is the one
// named; a fetch that then fails removes them again.
//
// Fetches speak upload-pack through go-git's transports but build the
// request here, asking for a thin pack (which go-git's own fetch never
// does): the server then sends only what the commits the working copy has
// do not hold, as deltas against objects it has, and the pack is completed
// from the local objects before it is stored, as `git index-pack
// --fix-thin` does. So a shallow fetch of a new commit brings what changed,
// not its whole tree again. A received pack is indexed here, as `git
// index-pack` does (indexpack.go), its deltas resolved on every core:
// go-git's pack parser keeps up to 96 MiB of delta bases while indexing,
// and cannot complete a thin pack.
//
// It also authenticates (SSH keys checked against known_hosts, HTTPS
// tokens), removes a stale .git/index.lock, optionally updates submodules,
// and compacts the object store now and then, because go-git never repacks.
// A remote given as a local path is read in-process when the fetch is
// small (localfetch.go), else through the git-upload-pack program, which
// go-git runs: git must be installed for such remotes, not for http(s) or
// ssh.
//
// It knows nothing about webhooks, jobs, locking between processes or
// commands: the caller serialises syncs of one working copy and decides
// what to sync.
package gitsync
