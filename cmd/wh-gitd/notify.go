package main

import sd "github.com/coreos/go-systemd/v22/daemon"

// notify sends state to systemd when it runs the daemon as Type=notify
// (NOTIFY_SOCKET is set); otherwise it does nothing.
func notify(state string) { _, _ = sd.SdNotify(false, state) }
