// Package fakeapi serves generated objects the way the Kubernetes API serves
// them to informers, on loopback, for load benchmarks that need no
// apiserver: each collection's initial state as a watch-list stream
// (client-go's default since 0.35: ADDED events, then a bookmark that ends
// the initial events), then the events a benchmark publishes. Everything is
// protobuf, as the apiserver answers the exporter's clients.
//
// Objects are encoded before the benchmark's clock starts and kept in a
// file, not in the heap, so that serving them costs a copy and the heap the
// benchmark measures is the exporter's alone.
package fakeapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	restwatch "k8s.io/client-go/rest/watch"
)

// Server is a fake API. Register every collection with Serve before the
// client starts; requests for anything else are recorded (Unexpected) and
// refused.
type Server struct {
	URL string

	file *os.File
	w    *bufio.Writer // appends to file
	size int64         // bytes written to file

	mu          sync.Mutex
	collections map[string]*collection // by URL path
	unexpected  []string
	rv          int // the last resource version handed out
}

// collection is one URL path's objects: where their initial events are in
// the file, and the events published since.
type collection struct {
	example runtime.Object // of the collection's type, for bookmarks
	initial section
	events  []section
	more    chan struct{} // closed when events grow
}

type section struct{ off, n int64 }

// New starts a server on loopback; it stops when tb ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	f, err := os.Create(filepath.Join(tb.TempDir(), "objects"))
	if err != nil {
		tb.Fatal(err)
	}
	// Bookmarks' resource versions are above the generated objects' and
	// below the events' a benchmark publishes (clustergen's conventions).
	s := &Server{file: f, w: bufio.NewWriterSize(f, 1<<20), collections: map[string]*collection{}, rv: 9_000_000}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(s.handle)}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() {
		_ = srv.Close()
		_ = f.Close()
	})
	s.URL = "http://" + l.Addr().String()
	return s
}

// Kubeconfig writes a kubeconfig for the server into dir and returns its
// path.
func (s *Server) Kubeconfig(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
users: [{name: fake, user: {}}]
current-context: fake
`, s.URL)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Serve registers the collection at path (as a client asks for it, e.g.
// /api/v1/pods or /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases):
// n objects made by obj, of the type of example.
func (s *Server) Serve(tb testing.TB, path string, example runtime.Object, n int, obj func(i int) runtime.Object) {
	tb.Helper()
	sec, err := s.encode(watch.Added, n, obj)
	if err != nil {
		tb.Fatalf("encoding %s: %v", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.collections[path] = &collection{example: example, initial: sec, more: make(chan struct{})}
}

// Events are watch events encoded ahead of Publish.
type Events struct{ sec section }

// Encode encodes n MODIFIED events of the objects obj makes (their
// resource versions are the caller's), to Publish later: a benchmark
// encodes before its clock starts.
func (s *Server) Encode(tb testing.TB, n int, obj func(i int) runtime.Object) Events {
	tb.Helper()
	sec, err := s.encode(watch.Modified, n, obj)
	if err != nil {
		tb.Fatalf("encoding events: %v", err)
	}
	return Events{sec}
}

// Publish sends ev to every watcher of path.
func (s *Server) Publish(tb testing.TB, path string, ev Events) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.collections[path]
	if c == nil {
		tb.Fatalf("publishing to %s, which is not served", path)
	}
	c.events = append(c.events, ev.sec)
	close(c.more)
	c.more = make(chan struct{})
}

// Unexpected lists the requests for what was not served, sorted.
func (s *Server) Unexpected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.unexpected...)
	sort.Strings(out)
	return out
}

// encode appends n watch events of type t to the file.
func (s *Server) encode(t watch.EventType, n int, obj func(i int) runtime.Object) (section, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := s.size
	counted := &countingWriter{w: s.w}
	enc := newEventEncoder(counted)
	for i := range n {
		if err := enc.Encode(&watch.Event{Type: t, Object: obj(i)}); err != nil {
			return section{}, err
		}
	}
	if err := s.w.Flush(); err != nil {
		return section{}, err
	}
	s.size += counted.n
	return section{off: start, n: s.size - start}, nil
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/version" { // clients that check the server first (kube-state-metrics)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2-fakeapi","platform":"linux/amd64"}`)
		return
	}
	s.mu.Lock()
	c := s.collections[r.URL.Path]
	q := r.URL.Query()
	// What it cannot answer as an apiserver would is refused and recorded:
	// anything but a watch-list of a whole registered collection in
	// protobuf (no selectors; a resumed watch would miss the events
	// published since).
	if c == nil || q.Get("watch") != "true" || q.Get("sendInitialEvents") != "true" || q.Get("labelSelector") != "" || q.Get("fieldSelector") != "" ||
		!strings.Contains(r.Header.Get("Accept"), runtime.ContentTypeProtobuf) {
		s.unexpected = append(s.unexpected, r.Method+" "+r.URL.String()+" Accept: "+r.Header.Get("Accept"))
		s.mu.Unlock()
		http.Error(w, "fakeapi: serves only registered collections, whole, as protobuf watch-list streams", http.StatusNotFound)
		return
	}
	s.rv++
	rv := strconv.Itoa(s.rv)
	seen := len(c.events) // a watch sees the events published after it starts
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf;stream=watch")
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	if _, err := io.Copy(w, io.NewSectionReader(s.file, c.initial.off, c.initial.n)); err != nil {
		return
	}
	// The bookmark that ends the initial events.
	bookmark := c.example.DeepCopyObject()
	m, _ := meta.Accessor(bookmark)
	m.SetResourceVersion(rv)
	m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	if err := newEventEncoder(w).Encode(&watch.Event{Type: watch.Bookmark, Object: bookmark}); err != nil {
		return
	}
	flusher.Flush()
	for {
		s.mu.Lock()
		pending, more := c.events[seen:], c.more
		seen = len(c.events)
		s.mu.Unlock()
		for _, sec := range pending {
			if _, err := io.Copy(w, io.NewSectionReader(s.file, sec.off, sec.n)); err != nil {
				return
			}
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-more:
		}
	}
}

// newEventEncoder encodes watch events as the apiserver streams them to a
// client that asked for protobuf: length-delimited frames, each a
// WatchEvent whose object is itself protobuf.
func newEventEncoder(w io.Writer) *restwatch.Encoder {
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok || info.StreamSerializer == nil {
		panic("fakeapi: no protobuf stream serializer")
	}
	frames := streaming.NewEncoder(info.StreamSerializer.Framer.NewFrameWriter(w), info.StreamSerializer.Serializer)
	return restwatch.NewEncoder(frames, typedEncoder{info.Serializer})
}

// typedEncoder sets an object's kind from the scheme when it has none
// (the protobuf serializer writes what the object says it is).
type typedEncoder struct{ runtime.Encoder }

func (e typedEncoder) Encode(obj runtime.Object, w io.Writer) error {
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		kinds, _, err := scheme.Scheme.ObjectKinds(obj)
		if err != nil {
			return err
		}
		obj.GetObjectKind().SetGroupVersionKind(kinds[0])
	}
	return e.Encoder.Encode(obj, w)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
