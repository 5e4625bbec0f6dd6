// Workload failure alerts: the "Determine the Reason for Pod Failure" guide.
// Every replica of the cluster exporter counts the same terminations, so
// counts are taken per series identity (max over replicas) before they are
// summed. A counter series is created by the first termination it counts,
// so the window rules also fire on a series that did not exist before the
// window (increase() alone cannot see a first value).
{
  local config = $._config,
  local q = (import '../lib/promql.libsonnet')(config),
  local a = (import '../lib/alert.libsonnet')(config),
  local t = config.thresholds,
  local guide = import '../lib/guide.libsonnet',
  local workload = q.by(['namespace', 'workload_kind', 'workload']),
  local identity = q.by(['namespace', 'workload_kind', 'workload', 'container', 'container_type', 'reason', 'exit_code', 'signal']),
  local total(m) = q.m('kube_triage_container_terminations_total', m),

  // Terminations matching m in the window, new series included, once per
  // series identity, summed by `by`. A series is new if it had no sample in
  // the 10 minutes before the window: a range, so that one missed scrape
  // (which ends every series of the target for a moment) does not make a
  // counter look new and page its old terminations again.
  local recent(by, m, window) = |||
    sum by (%(by)s) (
      max by (%(identity)s) (
        increase(%(total)s[%(window)s]) > 0
        or (%(total)s unless max_over_time(%(total)s[10m] offset %(window)s))
      )
    ) > 0
  ||| % { by: by, identity: identity, total: total(m), window: window },
  local increase(m, range, offset='') =
    'sum by (%s) (max by (%s) (increase(%s[%s]%s)))' % [workload, identity, total(m), range, if offset == '' then '' else ' offset ' + offset],
  local waiting(reasons) = 'max by (%s) (max_over_time(%s[%s])) > 0\n' % [workload, q.m('kube_triage_workload_pods_waiting', 'reason=~"%s"' % reasons), t.waitingWindow],

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'kube-triage-terminations',
        rules: [
          a.alert(
            'ContainerOOMKilled',
            recent(q.by(['namespace', 'workload_kind', 'workload', 'container']), 'reason="%s"' % guide.raising(guide.terminationReasons, 'ContainerOOMKilled'), t.oomWindow),
            '{{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} container {{ $labels.container }} was OOM-killed.',
            |||
              Container {{ $labels.container }} of {{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }}
              was killed for exceeding its memory limit in %s. The kernel killed it
              (exit code 137, SIGKILL); the kubelet emits no event for this.
            ||| % a.last(t.oomWindow),
          ),
          // A crash-looping container runs for seconds between back-offs:
          // the maximum over the window keeps the for from restarting then.
          a.alert(
            'ContainerCrashLooping',
            waiting(guide.raising(guide.waitingReasons, 'ContainerCrashLooping')),
            '{{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} has pods in CrashLoopBackOff.',
            |||
              {{ $value }} pod(s) of {{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} have
              been crash looping for %s. The recent terminations (reason, exit code, message)
              are on the exporter's /terminations page.
            ||| % a.forText('ContainerCrashLooping'),
          ),
          a.alert(
            'WorkloadTerminationRateHigh',
            |||
              %(recent)s > %(min)s
              and
              %(recent)s > %(factor)s * %(before)s / 6
            ||| % {
              recent: increase('reason!="Completed"', '10m'),
              before: increase('reason!="Completed"', '1h', '10m'),
              min: t.terminationRateMin,
              factor: t.terminationRateFactor,
            },
            '{{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} is dying %s times faster than usual.' % t.terminationRateFactor,
            |||
              {{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} had {{ $value | humanize }}
              container terminations in the last 10 minutes, over %s times its rate of the hour
              before: a bad deploy, a dependency down, or a limit too tight for new traffic.
            ||| % t.terminationRateFactor,
          ),
          // The kubelet alternates ErrImagePull and ImagePullBackOff: the
          // alert is per workload, not per reason, and looks over the window.
          a.alert(
            'ImagePullFailing',
            waiting(guide.raising(guide.waitingReasons, 'ImagePullFailing')),
            '{{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} cannot pull its image.',
            |||
              Pods of {{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} have waited to pull
              their image for %(for)s (now
              {{ with printf "max by (reason) (kube_triage_workload_pods_waiting{%(sel)s%(c)s='%%s',namespace='%%s',workload_kind='%%s',workload='%%s',reason=~'%(reasons)s'} > 0)" $labels.%(c)s $labels.namespace $labels.workload_kind $labels.workload | query }}{{ . | first | label "reason" }}{{ end }}):
              a wrong image name or tag, a missing pull secret, or a registry that cannot be reached.
            ||| % {
              'for': a.forText('ImagePullFailing'),
              reasons: guide.raising(guide.waitingReasons, 'ImagePullFailing'),
              c: config.clusterLabel,
              sel: if config.kubeTriageSelector == '' then '' else std.strReplace(config.kubeTriageSelector, '"', "'") + ',',
            },
          ),
          a.alert(
            'PodsEvicted',
            recent(workload, 'container_type="pod", reason="%s"' % guide.raising(guide.terminationReasons, 'PodsEvicted'), t.evictionWindow),
            'Pods of {{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} were evicted.',
            |||
              The kubelet evicted pods of {{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} in
              %s, under node pressure (memory, disk, PIDs). Look at the node's
              conditions and the pods' resource requests.
            ||| % a.last(t.evictionWindow),
          ),
          a.alert(
            'JobFailing',
            recent(workload, 'workload_kind=~"Job|CronJob", reason!="Completed"', t.jobFailingWindow),
            '{{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} has failing runs.',
            |||
              Containers of {{ $labels.workload_kind }} {{ $labels.namespace }}/{{ $labels.workload }} ended other than
              Completed in %s. The exit code and the termination message on
              /terminations say why.
            ||| % a.last(t.jobFailingWindow),
          ),
        ],
      },
    ],
  },
}
