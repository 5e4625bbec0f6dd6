package collector

import (
	"strconv"
	"strings"
	"time"
)

// Flag is a command-line flag, declared without a flag library: main
// registers every flag of every collector with kingpin in one loop, so
// that the collectors can be used as a library (node_exporter's
// maintainers regret declaring theirs with kingpin).
type Flag struct {
	Name        string // without the leading --
	Help        string
	Kind        FlagKind
	Default     string // as typed on the command line
	PlaceHolder string
	Envar       string
	// Set parses one value into the configuration; its error says what is
	// wrong with the value (main adds the flag's name). A repeated flag's
	// Set is called once per value.
	Set func(string) error
	// IsSet, if not nil, is set when the flag is given on the command
	// line.
	IsSet *bool
}

// FlagKind is how a flag takes its value.
type FlagKind int

const (
	// ValueFlag takes a value that Set parses; its default is shown as
	// it is (a duration, a number), and an empty one is a default too.
	ValueFlag FlagKind = iota
	// StringFlag takes any string; its default, if any, is shown quoted.
	StringFlag
	// BoolFlag takes no value: --name sets it, --no-name clears it.
	BoolFlag
	// RepeatedFlag may be given several times, one value each.
	RepeatedFlag
)

// String declares a string flag.
func String(name, help, def string, dst *string) Flag {
	return Flag{Name: name, Help: help, Kind: StringFlag, Default: def, Set: func(s string) error { *dst = s; return nil }}
}

// Bool declares a boolean flag.
func Bool(name, help string, def bool, dst *bool) Flag {
	f := Flag{Name: name, Help: help, Kind: BoolFlag, Set: func(s string) error {
		v, err := strconv.ParseBool(s)
		*dst = v
		return err
	}}
	if def {
		f.Default = "true"
	}
	return f
}

// Strings declares a repeated flag whose values are appended to dst.
func Strings(name, help, placeHolder string, dst *[]string) Flag {
	return Flag{Name: name, Help: help, Kind: RepeatedFlag, PlaceHolder: placeHolder, Set: func(s string) error {
		*dst = append(*dst, s)
		return nil
	}}
}

// Value declares a flag whose value parse reads into dst.
func Value[T any](name, help, def string, dst *T, parse func(string) (T, error)) Flag {
	return Flag{Name: name, Help: help, Kind: ValueFlag, Default: def, Set: func(s string) error {
		v, err := parse(s)
		if err != nil {
			return err
		}
		*dst = v
		return nil
	}}
}

// Duration declares a duration flag.
func Duration(name, help string, def time.Duration, dst *time.Duration) Flag {
	return Value(name, help, durationText(def), dst, time.ParseDuration)
}

// durationText is a duration as people type it: 1h, not 1h0m0s.
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2] // 2m0s: 2m
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2] // 1h0m: 1h
	}
	return s
}
