// Package kube is the exporter's access to the Kubernetes API: loading the
// client configuration and one shared informer factory whose caches keep only
// what collectors need.
package kube

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client is what collectors use to reach the API.
type Client struct {
	// Config is the REST configuration, for collectors that make their own
	// HTTP requests (such as the apiserver's health endpoints).
	Config    *rest.Config
	Clientset kubernetes.Interface
	Informers *Informers
	// Source says where Config came from, for the start-up log.
	Source string

	failures *requestFailures
}

// RequestFailures counts the Clientset's requests that got no answer or a
// 5xx, by resource.
func (c *Client) RequestFailures() []ResourceCount { return c.failures.snapshot() }

// LoadConfig finds the client configuration: the kubeconfig file at path if
// one is given; else the in-cluster service account; else $KUBECONFIG or
// ~/.kube/config. A file that is missing or unparsable is an error that names
// it; a server that does not answer is not (that is a run-time condition the
// exporter reports as a metric).
func LoadConfig(path string) (*rest.Config, string, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is named once, below
			}
			return nil, "", fmt.Errorf("kubeconfig %s: %w", path, err)
		}
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: path},
			&clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, "", fmt.Errorf("kubeconfig %s: %w", path, err)
		}
		return cfg, "kubeconfig " + path, nil
	}
	cfg, err := rest.InClusterConfig()
	if err == nil {
		return cfg, "in-cluster service account", nil
	}
	if !errors.Is(err, rest.ErrNotInCluster) {
		return nil, "", fmt.Errorf("in-cluster configuration: %w", err)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", errors.New("no Kubernetes configuration: not running in a cluster, and neither $KUBECONFIG nor ~/.kube/config gives one; pass --kubeconfig")
		}
		return nil, "", fmt.Errorf("kubeconfig %v: %w", rules.GetLoadingPrecedence(), err)
	}
	return cfg, fmt.Sprintf("kubeconfig %v", rules.GetLoadingPrecedence()), nil
}

// NewClient builds a Client from cfg. Requests are rate limited (qps, burst)
// like any well-behaved controller.
func NewClient(cfg *rest.Config, source string, qps float32, burst int) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = qps, burst
	cfg.UserAgent = "kube-triage-exporter"
	failures := &requestFailures{counts: map[string]uint64{}}
	counted := rest.CopyConfig(cfg)
	counted.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, f: failures} })
	// No ContentType: client-go's generated clients then ask for protobuf
	// for the built-in types (JSON accepted), which decodes several times
	// faster than JSON; TestInformersAskForProtobuf holds them to it.
	cs, err := kubernetes.NewForConfig(counted)
	if err != nil {
		return nil, fmt.Errorf("building Kubernetes client: %w", err)
	}
	return &Client{Config: cfg, Clientset: cs, Informers: NewInformers(cs), Source: source, failures: failures}, nil
}
