(import 'cluster.libsonnet') +
(import 'services.libsonnet') +
(import 'dns.libsonnet') +
(import 'terminations.libsonnet') +
(import 'exporter.libsonnet')
