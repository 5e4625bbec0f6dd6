#!/usr/bin/env bash
# make bench: the Go benchmarks and the load harness (a node agent on the
# local control plane), then one line per figure, NAME VALUE UNIT, for
# scripts that compare runs. Machines are noisy: compare ratios within a run.
set -euo pipefail
GO=${GO:-go}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run runs benchmarks, printing their result lines, or everything they
# printed if they failed.
run() {
	local log
	log=$(mktemp)
	if ! "$GO" test -count=1 -run '^$' "$@" >"$log" 2>&1; then
		cat "$log"
		rm -f "$log"
		return 1
	fi
	grep -E '^(Benchmark|ok)' "$log" | tee -a "$out"
	rm -f "$log"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $("$GO" version | cut -d' ' -f3)"
run -bench 'BenchmarkPodInformerMemory' -benchtime 1x ./internal/kube
run -bench 'BenchmarkScrape$' -benchtime 20x ./collector
run -bench 'BenchmarkScrapeWithRuntime' -benchtime 500x ./collector
run -bench 'BenchmarkServicesAtScale|BenchmarkConcurrentScrapes' -benchtime 20x ./collector/services
run -bench 'BenchmarkDNSSweep' -benchtime 1x ./collector/dns
run -bench 'BenchmarkProbeQuery$|BenchmarkPlainExchange$' ./internal/dnsprobe
run -bench 'BenchmarkBackendsAtScale' -benchtime 5x ./collector/backends
run -bench 'BenchmarkBackendConnection' -benchtime 2000x ./collector/backends
run -bench 'BenchmarkNodeAgentAt10kServices' -benchtime 1x ./cmd/kube-triage-exporter
run -bench 'BenchmarkTriageServiceAt1000Pods' -benchtime 5x ./cmd/kube-triage-exporter
run -bench 'BenchmarkClusterRole' -benchtime 1x ./cmd/kube-triage-exporter
run -bench 'BenchmarkAgainstKubeStateMetrics' -benchtime 1x ./cmd/kube-triage-exporter

# figure NAME UNIT BENCHMARK METRIC [SCALE]: the value before METRIC on the
# line of BENCHMARK (a regular expression on its name), times SCALE.
figure() {
	awk -v name="$1" -v unit="$2" -v bench="$3" -v metric="$4" -v scale="${5:-1}" '
		$1 ~ "^" bench "(-[0-9]+)?$" { for (i = 2; i <= NF; i++) if ($i == metric) { printf "%s %.10g %s\n", name, $(i-1) * scale, unit; found = 1; exit } }
		END { if (!found) { printf "%s missing %s\n", name, unit; exit 1 } }' "$out"
}
echo
figure heap_bytes_per_pod bytes 'BenchmarkServicesAtScale/pods-per-namespace=1000' B/pod
figure sync_peak_ratio_watchlist ratio 'BenchmarkPodInformerMemory/watchlist' peak-live/steady
figure sync_peak_ratio_paged ratio 'BenchmarkPodInformerMemory/list' peak-live/steady
figure sync_peak_ratio_paged_untrimmed ratio 'BenchmarkPodInformerMemory/list-untrimmed' peak-live/steady
figure scrape_ns_per_series_10k ns 'BenchmarkScrape/rendered/10000' ns/series
figure scrape_ns_per_series_100k ns 'BenchmarkScrape/rendered/100000' ns/series
figure scrape_ns_per_series_100k_client_golang ns 'BenchmarkScrape/client_golang/100000' ns/series
figure scrape_us_3600_series us 'BenchmarkScrapeWithRuntime/alone' us/scrape
figure scrape_us_3600_series_with_runtime us 'BenchmarkScrapeWithRuntime/with-self-metrics' us/scrape
figure scrape_ns_per_series_services_150k ns 'BenchmarkServicesAtScale/pods-per-namespace=1000' ns/series
figure scrape_concurrent50_p50_seconds seconds 'BenchmarkConcurrentScrapes' p50-s
figure scrape_concurrent50_p99_seconds seconds 'BenchmarkConcurrentScrapes' p99-s
figure node_agent_heap_bytes_0_services bytes 'BenchmarkNodeAgentAt10kServices' heap-B/0-services
figure node_agent_heap_bytes_10k_services bytes 'BenchmarkNodeAgentAt10kServices' heap-B/10k-services
figure node_agent_heap_bytes_10k_services_all_watched bytes 'BenchmarkNodeAgentAt10kServices' heap-B/10k-services-all-watched
figure cluster_heap_bytes_per_pod bytes 'BenchmarkClusterRole' heap-B/pod
figure cluster_rss_over_live_heap ratio 'BenchmarkClusterRole' rss/live-heap
figure cluster_anon_rss_over_live_heap ratio 'BenchmarkClusterRole' anon-rss/live-heap
figure cluster_sync_peak_live_over_steady ratio 'BenchmarkClusterRole' sync-peak-live/steady
figure cluster_full_data_seconds_50k seconds 'BenchmarkClusterRole' s/full-data
figure cluster_sync_cpu_seconds_per_10k_pods seconds 'BenchmarkClusterRole' sync-cpu-s/10k-pods
figure cluster_update_cpu_us_per_pod_update us 'BenchmarkClusterRole' cpu-us/pod-update
figure scrape_us_cluster_50k us 'BenchmarkClusterRole' scrape-us
figure scrape_us_cluster_50k_gzip us 'BenchmarkClusterRole' scrape-gzip-us
figure ksm_over_ours_full_data_seconds ratio 'BenchmarkAgainstKubeStateMetrics' ksm/ours-s/full-data
figure ksm_over_ours_sync_cpu_seconds ratio 'BenchmarkAgainstKubeStateMetrics' ksm/ours-sync-cpu-s
figure ksm_over_ours_cpu_per_restart ratio 'BenchmarkAgainstKubeStateMetrics' ksm/ours-cpu-us/restart
figure ksm_over_ours_rss ratio 'BenchmarkAgainstKubeStateMetrics' ksm/ours-rss-MiB
figure ksm_over_ours_scrape ratio 'BenchmarkAgainstKubeStateMetrics' ksm/ours-scrape-ms
figure cpu_seconds_per_pod_update seconds 'BenchmarkServicesAtScale/pods-per-namespace=1000' cpu-s/pod-update
figure cpu_seconds_per_pod_update_10x_namespace seconds 'BenchmarkServicesAtScale/pods-per-namespace=10000' cpu-s/pod-update
figure dns_sweep_lookups_per_second_333 lookups/s 'BenchmarkDNSSweep/rate=333' lookups/s
figure dns_sweep_cpu_ratio_333 ratio 'BenchmarkDNSSweep/rate=333' cpu-ratio
figure dns_sweep_lookups_per_second_3333 lookups/s 'BenchmarkDNSSweep/rate=3333' lookups/s
figure dns_sweep_cpu_ratio_3333 ratio 'BenchmarkDNSSweep/rate=3333' cpu-ratio
figure dns_sweep_peak_100ms_over_mean_3333 ratio 'BenchmarkDNSSweep/rate=3333' peak-100ms/mean
figure backends_pass_seconds_10k_services seconds 'BenchmarkBackendsAtScale' s/pass
figure backends_round_cpu_ms_10k_services ms 'BenchmarkBackendsAtScale' cpu-ms/round
figure backends_heap_bytes_per_endpoint bytes 'BenchmarkBackendsAtScale' B/endpoint
figure backends_cpu_us_per_connection us 'BenchmarkBackendConnection' cpu-us/connection
figure triage_service_seconds_1000_pods seconds 'BenchmarkTriageServiceAt1000Pods' s/walk
figure dns_seconds_per_lookup seconds 'BenchmarkProbeQuery' ns/op 1e-9
figure dns_seconds_per_plain_exchange seconds 'BenchmarkPlainExchange' ns/op 1e-9
