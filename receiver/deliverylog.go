package receiver

import (
	"net/netip"

	"github.com/rs/zerolog"
)

// deliveryLog writes the lines about one delivery. Its fields (remote_addr,
// client, then repo and delivery once known) are added to each line that
// is written, after the logger's own context and in the order they were
// learnt: what a logger made With them writes. But a delivery none of whose
// lines is written (at level warn, every accepted and every ignored one)
// builds no logger, where each With copied the context into a new
// 500-byte buffer.
type deliveryLog struct {
	log    zerolog.Logger
	fields []logField
	buf    [4]logField
}

// logField is a string field, or an address written as its String.
type logField struct {
	key, value string
	addr       netip.Addr
	isAddr     bool
}

func newDeliveryLog(log zerolog.Logger) *deliveryLog {
	d := &deliveryLog{log: log}
	d.fields = d.buf[:0]
	return d
}

// str adds a field to every later line.
func (d *deliveryLog) str(key, value string) {
	d.fields = append(d.fields, logField{key: key, value: value})
}

// addr adds a field holding a's String to every later line.
func (d *deliveryLog) addr(key string, a netip.Addr) {
	d.fields = append(d.fields, logField{key: key, addr: a, isAddr: true})
}

func (d *deliveryLog) Info() *zerolog.Event  { return d.with(d.log.Info()) }
func (d *deliveryLog) Warn() *zerolog.Event  { return d.with(d.log.Warn()) }
func (d *deliveryLog) Error() *zerolog.Event { return d.with(d.log.Error()) }

// with adds the fields to e, unless e is nil (below the level).
func (d *deliveryLog) with(e *zerolog.Event) *zerolog.Event {
	if e == nil {
		return nil
	}
	for _, f := range d.fields {
		if f.isAddr {
			e = e.Str(f.key, f.addr.String())
		} else {
			e = e.Str(f.key, f.value)
		}
	}
	return e
}
