package mixin

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The YAML files are written for people to read as well as for Prometheus:
// keys in the order rule files use, expressions as literal blocks, long
// annotations folded at foldWidth.

// keyOrder puts known keys first, in this order; others follow sorted.
var keyOrder = []string{
	"apiVersion", "kind", "metadata", "spec",
	"name", "interval", "rules",
	"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations",
	"summary", "description", "runbook_url",
	"source_matchers", "target_matchers", "equal",
}

const foldWidth = 100

func yamlFile(comment string, v any) ([]byte, error) {
	var b strings.Builder
	for _, line := range strings.Split(comment, "\n") {
		b.WriteString("# " + line + "\n")
	}
	if err := writeYAML(&b, v, 0, false); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		if i := slices.Index(keyOrder, k); i >= 0 {
			return i
		}
		return len(keyOrder)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := rank(keys[i]), rank(keys[j])
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// writeYAML writes v, a value decoded from JSON, at the given indent. A
// map inside a list starts on the list item's line (inList).
func writeYAML(b *strings.Builder, v any, indent int, inList bool) error {
	pad := strings.Repeat("  ", indent)
	switch x := v.(type) {
	case map[string]any:
		for i, k := range sortedKeys(x) {
			if i > 0 || !inList {
				b.WriteString(pad)
			}
			key, err := scalar(k)
			if err != nil {
				return err
			}
			b.WriteString(key + ":")
			if err := writeValue(b, k, x[k], indent); err != nil {
				return err
			}
		}
	case []any:
		for _, item := range x {
			b.WriteString(pad + "- ")
			switch item.(type) {
			case map[string]any:
				if err := writeYAML(b, item, indent+1, true); err != nil {
					return err
				}
			default:
				if err := writeValue(b, "", item, indent); err != nil {
					return err
				}
			}
		}
	default:
		return fmt.Errorf("unexpected %T at the top of a YAML document", v)
	}
	return nil
}

// writeValue writes the value of key after "key:" (or "- ").
func writeValue(b *strings.Builder, key string, v any, indent int) error {
	pad := strings.Repeat("  ", indent+1)
	sep := " "
	if key == "" { // a list item: "- " is written already
		sep = ""
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			b.WriteString(sep + "{}\n")
			return nil
		}
		b.WriteString("\n")
		return writeYAML(b, x, indent+1, false)
	case []any:
		if len(x) == 0 {
			b.WriteString(sep + "[]\n")
			return nil
		}
		if allSimple(x) {
			var items []string
			for _, item := range x {
				s, err := scalar(item)
				if err != nil {
					return err
				}
				items = append(items, s)
			}
			b.WriteString(sep + "[" + strings.Join(items, ", ") + "]\n")
			return nil
		}
		b.WriteString("\n")
		return writeYAML(b, x, indent+1, false)
	case string:
		switch {
		case strings.Contains(x, "\n"):
			b.WriteString(sep + "|")
			if !strings.HasSuffix(x, "\n") {
				b.WriteString("-")
			} else if strings.HasSuffix(x, "\n\n") {
				b.WriteString("+")
			}
			b.WriteString("\n")
			for _, line := range strings.Split(strings.TrimSuffix(x, "\n"), "\n") {
				if line == "" {
					b.WriteString("\n")
				} else {
					b.WriteString(pad + line + "\n")
				}
			}
			return nil
		case len(x) > foldWidth && foldable(x) && len(fold(x, foldWidth)) > 1:
			b.WriteString(sep + ">-\n")
			for _, line := range fold(x, foldWidth) {
				b.WriteString(pad + line + "\n")
			}
			return nil
		}
	}
	s, err := scalar(v)
	if err != nil {
		return err
	}
	b.WriteString(sep + s + "\n")
	return nil
}

// allSimple: a list of plain words, which reads well as [a, b].
func allSimple(items []any) bool {
	for _, item := range items {
		s, ok := item.(string)
		if !ok || !simpleWord.MatchString(s) {
			return false
		}
	}
	return true
}

var simpleWord = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// scalar is v as a one-line YAML scalar, quoted where YAML needs it.
func scalar(v any) (string, error) {
	out, err := yaml.Marshal(v)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(string(out), "\n")
	if strings.Contains(s, "\n") {
		return "", fmt.Errorf("%q does not fit on one line", v)
	}
	return s, nil
}

// foldable: a folded block reads back as the same string only if no line
// starts or ends with a space and no break falls inside a run of spaces.
func foldable(s string) bool {
	return s == strings.TrimSpace(s) && !strings.Contains(s, "  ") && !strings.ContainsAny(s, "\t\r")
}

// fold breaks s into lines of about width characters, at spaces outside
// template actions ({{ ... }} reads best on one line).
func fold(s string, width int) []string {
	var lines []string
	start, lastBreak, depth := 0, -1, 0
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			depth++
		case strings.HasPrefix(s[i:], "}}") && depth > 0:
			depth--
		case s[i] == ' ' && depth == 0:
			if i-start > width && lastBreak > start {
				lines = append(lines, s[start:lastBreak])
				start = lastBreak + 1
			}
			lastBreak = i
		}
	}
	if len(s)-start > width && lastBreak > start {
		lines = append(lines, s[start:lastBreak])
		start = lastBreak + 1
	}
	return append(lines, s[start:])
}
