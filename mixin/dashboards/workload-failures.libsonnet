// kube-triage / Workload failures: "Determine the Reason for Pod Failure",
// beside the alerts that name them (alerts/terminations.libsonnet).
// Replicas of the cluster exporter count the same terminations: each
// counter series is taken once (max over replicas by all its labels)
// before it is summed.
function(config)
  local g = (import '../lib/grafana.libsonnet')(config);
  local q = g.q;
  local ns = 'namespace=~"$namespace"';
  local identity = 'namespace, workload_kind, workload, container, container_type, reason, exit_code, signal';
  local total(matchers) = q.m('kube_triage_container_terminations_total', matchers);
  local failed = total(ns + ', reason!="Completed"');

  g.dashboard(
    'kube-triage-workload-failures',
    'kube-triage / Workload failures',
    "The guide's 'Determine the Reason for Pod Failure' as a dashboard: every container termination by reason and workload, top offenders, pods stuck waiting. From kube-triage-exporter's terminations collector.",
    ['workloads'],
    variables=[g.namespaceVariable('kube_triage_container_terminations_total')],
    panels=[
      g.timeseries(
        'Terminations by reason',
        'Container terminations per second across the selected namespaces, by reason (OOMKilled, Error, Completed, Evicted, ...).',
        [g.target('sum by (reason) (max by (%s) (rate(%s[$__rate_interval])))' % [identity, total(ns)], '{{reason}}')],
        unit='ops',
      ),
      g.timeseries(
        'Terminations by workload',
        'Container terminations per second by workload, except Completed: who is dying.',
        [g.target('sum by (namespace, workload_kind, workload) (max by (%s) (rate(%s[$__rate_interval])))' % [identity, failed], '{{namespace}}/{{workload}}')],
        unit='ops',
      ),
      g.table(
        'Top offenders (last hour)',
        "The workloads and containers with the most terminations in the last hour, with reason, exit code and signal. Messages are on the exporter's /terminations page. A series born within the hour (the first termination of its kind since the exporter started) counts with its whole value.",
        [g.target(std.rstripChars(|||
          topk(20, sum by (namespace, workload_kind, workload, container, reason, exit_code, signal) (
            max by (%(identity)s) (
              increase(%(failed)s[1h]) > 0
              or (%(failed)s unless %(failed)s offset 1h)
            )
          ))
        ||| % { identity: identity, failed: failed }, '\n'))],
        hide=['Time'],
        w=24,
        h=9,
      ),
      g.timeseries(
        'Pods stuck waiting',
        'Pods in CrashLoopBackOff, ImagePullBackOff and the other stuck reasons, by workload.',
        [g.target(
          'sum by (namespace, workload, reason) (max by (namespace, workload_kind, workload, reason) (%s))' % q.m('kube_triage_workload_pods_waiting', ns),
          '{{namespace}}/{{workload}} {{reason}}',
        )],
        unit='short',
      ),
      g.table(
        'Last termination per container',
        "When each workload's container last died.",
        [g.target('max by (namespace, workload_kind, workload, container) (%s) * 1000' % q.m('kube_triage_container_last_termination_timestamp_seconds', ns))],
        hide=['Time'],
      ),
    ],
  )
