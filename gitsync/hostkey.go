package gitsync

import (
	"errors"

	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyError words an SSH host key refusal for the job log: which case it
// is and what to do, instead of "knownhosts: key is unknown". It returns nil
// for any other error.
func hostKeyError(err error, host string) error {
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	if len(ke.Want) == 0 {
		return &rewordedError{err: err, msg: "host key of " + host + " is not in known_hosts_file: " +
			"check the server's fingerprint, then add its key (ssh-keyscan)"}
	}
	return &rewordedError{err: err, msg: "host key of " + host + " does not match known_hosts_file: " +
		"the server's key changed, or something is impersonating it; nothing was fetched"}
}
