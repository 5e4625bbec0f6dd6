package backends

import (
	"testing"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
)

func TestMain(m *testing.M) { clustertest.Main(m) }
