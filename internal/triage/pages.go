package triage

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/triage/report"
)

// Path is the prefix of the triage pages.
const Path = "/triage/"

// kindName is a workload's kind as the alerts label it (Deployment,
// StatefulSet, CronJob...).
var kindName = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{0,62}$`)

// valid says whether a walk's label value can be what it names.
func valid(label, value string) bool {
	switch label {
	case "namespace":
		return kube.IsNamespace(value)
	case "workload_kind":
		return kindName.MatchString(value)
	}
	return kube.IsName(value)
}

// Pages serves the walks at /triage/service/NAMESPACE/NAME,
// /triage/pod/NAMESPACE/NAME, /triage/workload/NAMESPACE/KIND/NAME and
// /triage/cluster (also /triage/), routed by guide.Walks, the paths the
// alerts' triage_url links; HTML, or JSON with ?format=json. A path that is
// no walk answers 404; one whose names cannot be Kubernetes names, 400.
func (w *Walker) Pages(logger *slog.Logger) map[string]http.Handler {
	return map[string]http.Handler{Path: http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		path := strings.Trim(strings.TrimPrefix(req.URL.Path, Path), "/")
		if path == "" {
			path = guide.ClusterWalk.Path
		}
		var walk guide.Walk
		var labels map[string]string
		for _, candidate := range guide.Walks {
			if l, ok := candidate.Match(path); ok {
				walk, labels = candidate, l
				break
			}
		}
		if labels == nil {
			http.Error(rw, "not a walk: want "+Path+"service/NAMESPACE/NAME, pod/NAMESPACE/NAME, workload/NAMESPACE/KIND/NAME or cluster", http.StatusNotFound)
			return
		}
		for label, value := range labels {
			if !valid(label, value) {
				http.Error(rw, fmt.Sprintf("not a walk: %s %q cannot be a Kubernetes name", label, value), http.StatusBadRequest)
				return
			}
		}
		ctx := req.Context()
		var r report.Report
		switch walk {
		case guide.ServiceWalk:
			r = w.Service(ctx, labels["namespace"], labels["service"], Details{})
		case guide.PodWalk:
			r = w.Pod(ctx, labels["namespace"], labels["pod"], Details{})
		case guide.WorkloadWalk:
			r = w.Workload(ctx, labels["namespace"], labels["workload_kind"], labels["workload"], Details{})
		default:
			r = w.Cluster(ctx, Details{}, guide.NodeLeaseStale)
		}
		var err error
		if req.URL.Query().Get("format") == "json" {
			rw.Header().Set("Content-Type", "application/json")
			err = r.WriteJSON(rw)
		} else {
			rw.Header().Set("Content-Type", "text/html; charset=utf-8")
			err = r.WriteHTML(rw)
		}
		if err != nil {
			logger.Warn("rendering a triage page", "path", req.URL.Path, "err", err)
		}
	})}
}
