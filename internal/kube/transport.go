package kube

import (
	"net/http"
	"sort"
	"strings"
	"sync"
)

// requestFailures counts API requests that got no answer or a 5xx, by
// resource. client-go's reflector retries a refused watch silently (its
// watch error handler never hears of it), so this is what shows that the
// exporter's own view of the API is broken while the apiserver is down.
type requestFailures struct {
	mu     sync.Mutex
	counts map[string]uint64
}

type countingTransport struct {
	next http.RoundTripper
	f    *requestFailures
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode >= 500 {
		t.f.add(resourceOf(req.URL.Path))
	}
	return resp, err
}

func (f *requestFailures) add(resource string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[resource]++
}

// ResourceCount is a count for one resource.
type ResourceCount struct {
	Resource string
	Count    uint64
}

func (f *requestFailures) snapshot() []ResourceCount {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]ResourceCount, 0, len(f.counts))
	for r, n := range f.counts {
		out = append(out, ResourceCount{r, n})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Resource < out[b].Resource })
	return out
}

// resourceOf names the resource of an API path: /api/v1/nodes and
// /api/v1/namespaces/x/pods/y give "nodes" and "pods"; any other path
// gives "other", so the label stays bounded.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return "other"
	}
	if parts[0] == "namespaces" && len(parts) >= 3 {
		return parts[2]
	}
	return parts[0]
}
