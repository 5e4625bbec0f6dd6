package collector

import (
	"strings"
	"testing"
)

var testFamilies Families

var (
	testObjects = testFamilies.Gauge("test_objects", "-", `Objects, with a "quoted" word and a back\slash.`, "namespace", "name")
	testEvents  = testFamilies.Counter("test_events_total", "-", "Events.", "namespace", "name")
)

func snapshotKeys(entries []renderedObject) []string {
	var keys []string
	for _, o := range entries {
		keys = append(keys, o.key+"="+string(o.family(0)))
	}
	return keys
}

// A scrape reads a snapshot: changes made while it writes go to a copy,
// and the next scrape sees them.
func TestRenderedSnapshotIsStable(t *testing.T) {
	r := NewRendered(testObjects, testEvents)
	b := r.Builder()
	for _, name := range []string{"a", "b", "c"} {
		b.Add(testObjects, 1, "ns", name)
		r.Set("ns/"+name, b)
	}
	old := r.snapshot()
	want := strings.Join(snapshotKeys(old), "|")
	r.Delete("ns/b")
	b.Add(testObjects, 2, "ns", "c")
	r.Set("ns/c", b)
	r.Set("ns/a", b) // nothing added: a goes
	if got := strings.Join(snapshotKeys(old), "|"); got != want {
		t.Errorf("the snapshot changed under a scrape:\n%s\nwas\n%s", got, want)
	}
	if got, want := strings.Join(snapshotKeys(r.snapshot()), "|"), "ns/c="+`kube_triage_test_objects{name="c",namespace="ns"} 2`+"\n"; got != want {
		t.Errorf("after the changes: %q, want %q", got, want)
	}
}
