package settings

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/v2"
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	commandType  = reflect.TypeFor[Command]()
)

// listFields are the keys whose items are named key[i] rather than key.k.
var listFields = map[string]bool{"commands": true, "on_failure": true, "always": true, "deploy_on": true,
	"allow": true, "trusted_proxies": true, "refs": true, "notify": true, "on": true}

// decode unmarshals the merged settings strictly: an unknown key, a key spelt
// in another case, or a value of the wrong type is a problem. mapstructure
// drops a whole map entry (a repository, a branch) when anything inside it
// fails, so the keys at fault are removed and the rest decoded again: the
// result is complete enough for Validate to report every other problem.
func decode(ko *koanf.Koanf) (*Settings, problems) {
	var all problems
	raw := ko.Raw()
	for attempt := 1; ; attempt++ {
		s := &Settings{}
		var errs []decodeErr
		collectDecodeErrors(ko.UnmarshalWithConf("", s, unmarshalConf()), &errs)
		for _, e := range errs {
			all.add(e.path.String(), "%s", e.msg)
		}
		if len(errs) == 0 || attempt == 3 {
			return s, all
		}
		for _, e := range errs {
			e.path.removeFrom(raw)
		}
		ko = koanf.New(".")
		if err := ko.Load(mapProvider(raw), nil); err != nil {
			return s, all
		}
	}
}

func unmarshalConf() koanf.UnmarshalConf {
	return koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				durationHook,
				commandHook,
				shapeHook,
				mapstructure.TextUnmarshallerHookFunc(),
			),
			ErrorUnused:      true,
			WeaklyTypedInput: true,
			MatchName:        func(key, field string) bool { return key == field },
		},
	}
}

// durationHook parses a string such as 90s or 5m into a time.Duration. A bare
// number is refused: it would silently mean nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, fmt.Errorf("must be a duration with a unit, such as 30s or 5m (got %v)", data)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("must be a duration such as 30s, 5m or 1h30m (got %q)", s)
	}
	return d, nil
}

// commandHook decodes a Command from a string (Shell) or a list (Argv).
func commandHook(_, to reflect.Type, data any) (any, error) {
	if to != commandType {
		return data, nil
	}
	switch v := data.(type) {
	case Command:
		return v, nil
	case string:
		return Command{Shell: v}, nil
	case []string:
		return Command{Argv: append([]string{}, v...)}, nil
	case []any:
		return argvCommand(v)
	}
	return nil, errors.New("must be a string (run by /bin/sh -c) or a list of strings (run directly)")
}

// shapeHook refuses a list or a scalar where a mapping belongs, and a mapping
// where a list belongs, instead of mapstructure's weak merging of a list of
// mappings into one mapping. A scalar may still stand for a one-item list.
func shapeHook(from, to reflect.Type, data any) (any, error) {
	isMap := func(k reflect.Kind) bool { return k == reflect.Map || k == reflect.Struct }
	switch {
	case to == cidrType && from.Kind() == reflect.String: // text, parsed by its UnmarshalText
	case isMap(to.Kind()) && !isMap(from.Kind()),
		to.Kind() == reflect.Slice && isMap(from.Kind()):
		return nil, fmt.Errorf("must be %s (got %s)", kindName(to), kindName(from))
	}
	return data, nil
}

func argvCommand(items []any) (Command, error) {
	argv := make([]string, len(items))
	for i, item := range items {
		switch x := item.(type) {
		case string:
			argv[i] = x
		case int, int64, uint64, float64, bool:
			argv[i] = fmt.Sprint(x)
		default:
			return Command{}, fmt.Errorf("item %d of the list must be a string", i)
		}
	}
	return Command{Argv: argv}, nil
}

// decodeErr is one of mapstructure's errors, at one key path.
type decodeErr struct {
	path keyPath
	msg  string
}

// collectDecodeErrors flattens mapstructure's errors, one per unknown key.
func collectDecodeErrors(err error, out *[]decodeErr) {
	switch e := err.(type) {
	case nil:
	case *mapstructure.DecodeError:
		path := parseName(e.Name())
		msg := typeMessage(e.Unwrap())
		keys, ok := strings.CutPrefix(msg, "has invalid keys: ")
		if !ok {
			*out = append(*out, decodeErr{path, msg})
			return
		}
		for _, k := range strings.Split(keys, ", ") {
			*out = append(*out, decodeErr{append(path[:len(path):len(path)], step{key: k}), "unknown key"})
		}
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			collectDecodeErrors(inner, out)
		}
	case interface{ Unwrap() error }:
		collectDecodeErrors(e.Unwrap(), out)
	default:
		*out = append(*out, decodeErr{nil, e.Error()})
	}
}

// keyPath is a key path: map keys, and list indexes under listFields.
type keyPath []step

type step struct {
	key   string
	index bool
}

// String renders repos.site.branches.main.commands[0].
func (p keyPath) String() string {
	var b strings.Builder
	for _, s := range p {
		switch {
		case s.index:
			b.WriteString("[" + s.key + "]")
		case b.Len() > 0:
			b.WriteString("." + s.key)
		default:
			b.WriteString(s.key)
		}
	}
	return b.String()
}

// removeFrom deletes the value at p from raw. A list item becomes "", which
// Validate reports at the same path (and Load drops as already reported); a
// list given where a mapping belongs is deleted whole.
func (p keyPath) removeFrom(raw map[string]any) {
	parent, key := raw, ""
	var node any = raw
	for i, s := range p {
		last := i == len(p)-1
		switch n := node.(type) {
		case map[string]any:
			if s.index {
				delete(parent, key)
				return
			}
			if last {
				delete(n, s.key)
				return
			}
			parent, key, node = n, s.key, n[s.key]
		case []any:
			idx, err := strconv.Atoi(s.key)
			if !s.index || err != nil || idx < 0 || idx >= len(n) {
				delete(parent, key)
				return
			}
			if last {
				n[idx] = ""
				return
			}
			node = n[idx]
		default:
			return
		}
	}
}

// parseName parses mapstructure's repos[site].branches[main].commands[0].
func parseName(name string) keyPath {
	var p keyPath
	last := ""
	for name != "" {
		if name[0] == '[' {
			end := closingBracket(name)
			p = append(p, step{key: name[1:end], index: listFields[last]})
			name = name[min(end+1, len(name)):]
			continue
		}
		name = strings.TrimPrefix(name, ".")
		i := strings.IndexAny(name, ".[")
		if i < 0 {
			i = len(name)
		}
		last = name[:i]
		p = append(p, step{key: last})
		name = name[i:]
	}
	return p
}

// closingBracket finds the ] that ends the map key opening name: one followed
// by the end, a . or a [, so that keys may themselves hold brackets.
func closingBracket(name string) int {
	for i := 1; i < len(name); i++ {
		if name[i] == ']' && (i+1 == len(name) || name[i+1] == '.' || name[i+1] == '[') {
			return i
		}
	}
	return len(name)
}

// typeMessage words mapstructure's type errors by key path and kind: "must be
// a mapping (got a string)", "must be a number (got "many")". It is only
// reached for values of the wrong type, never for a well-typed secret.
func typeMessage(err error) string {
	var typeErr *mapstructure.UnconvertibleTypeError
	if errors.As(err, &typeErr) && typeErr.Value != nil {
		return fmt.Sprintf("must be %s (got %s)", kindName(typeErr.Expected.Type()), kindName(reflect.TypeOf(typeErr.Value)))
	}
	var parseErr *mapstructure.ParseError
	if errors.As(err, &parseErr) {
		return fmt.Sprintf("must be %s (got %q)", kindName(parseErr.Expected.Type()), fmt.Sprint(parseErr.Value))
	}
	return err.Error()
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}
