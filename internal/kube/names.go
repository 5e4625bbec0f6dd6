package kube

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// IsNamespace says whether s can be a namespace's name (an RFC 1123
// label).
func IsNamespace(s string) bool { return len(validation.IsDNS1123Label(s)) == 0 }

// IsName says whether s can be an object's name: a Service's, a pod's, a
// workload's (the widest rule, an RFC 1123 subdomain).
func IsName(s string) bool { return len(validation.IsDNS1123Subdomain(s)) == 0 }

// SplitName reads namespace/name: a namespace's name, a slash and a name
// without another; ok is false otherwise.
func SplitName(s string) (namespace, name string, ok bool) {
	namespace, name, ok = strings.Cut(s, "/")
	return namespace, name, ok && IsNamespace(namespace) && name != "" && !strings.Contains(name, "/")
}
