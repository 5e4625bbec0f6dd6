// Package docs carries the reference documents the exporter serves and the
// tests that keep them true to the code.
package docs

import _ "embed"

// Metrics is docs/metrics.md, served at /docs/metrics.
//
//go:embed metrics.md
var Metrics []byte
