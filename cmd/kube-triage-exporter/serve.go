package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/server"
)

// run starts the exporter and serves until ctx ends (main's ends on SIGTERM
// or SIGINT). Errors it returns are start-up errors; run-time failures
// become metrics and logs.
func run(ctx context.Context, f *flags, logOut io.Writer) error {
	f.log.Writer = logOut
	logger := promslog.New(&f.log)
	role := collector.Role(f.role)

	// Bind first, so that a bad or busy address stops start-up at once.
	listeners, err := listen(f.web)
	if err != nil {
		return err
	}
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()

	restCfg, source, err := kube.LoadConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	kc, err := kube.NewClient(restCfg, source, f.kubeQPS, f.kubeBurst)
	if err != nil {
		return err
	}
	scope := kube.Scope{Include: f.namespaces, Exclude: f.excluded}
	kc.Informers.SetScope(scope)

	exp, err := collector.NewExporter(f.setup, collector.Deps{
		Logger:   logger,
		Role:     role,
		NodeName: f.nodeName,
		Kube:     kc,
	})
	if err != nil {
		return err
	}

	handler, err := server.New(exp, server.Options{
		TelemetryPath:  f.telemetryPath,
		MaxRequests:    f.maxRequests,
		DefaultTimeout: f.scrapeTimeout,
		TimeoutOffset:  f.timeoutOffset,
		Ready:          ready(kc.Informers),
		Version:        version.Info(),
		Role:           role,
	}, logger)
	if err != nil {
		return err
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()

	logger.Info("starting "+program, "version", version.Info(), "role", role, "node", f.nodeName,
		"kubernetes", kc.Source, "apiserver", restCfg.Host, "scope", scope.String(), "collectors", strings.Join(f.setup.Enabled(role), ","))

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() {
		if listeners == nil { // systemd socket activation or vsock
			serveErr <- web.ListenAndServe(srv, f.web, logger)
			return
		}
		serveErr <- web.ServeMultiple(listeners, srv, f.web, logger)
	}()

	background := make(chan struct{})
	go func() {
		exp.Run(ctx)
		close(background)
	}()
	// The initial lists' garbage is most of the heap the process ever
	// grows; the Go runtime hands it back to the OS only slowly, and the
	// working set that the memory limit is sized by would keep it.
	go afterSync(ctx, kc.Informers.Pending, time.Second, 10*time.Minute, func() {
		debug.FreeOSMemory()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		logger.Info("initial lists done; their garbage returned to the OS", "heap_inuse_bytes", m.HeapInuse, "heap_released_bytes", m.HeapReleased)
	})

	select {
	case err := <-serveErr:
		stop()
		<-background
		return fmt.Errorf("serving HTTP on %s: %w", strings.Join(*f.web.WebListenAddresses, ","), err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("HTTP shutdown", "err", err)
	}
	<-background
	return nil
}

// listen binds the TCP listen addresses. It returns no listeners when
// exporter-toolkit must listen itself (systemd socket activation, vsock).
func listen(w *web.FlagConfig) ([]net.Listener, error) {
	if *w.WebSystemdSocket {
		return nil, nil
	}
	for _, addr := range *w.WebListenAddresses {
		if strings.HasPrefix(addr, "vsock://") {
			return nil, nil
		}
	}
	var ls []net.Listener
	for _, addr := range *w.WebListenAddresses {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("--web.listen-address=%s: %w", addr, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// afterSync calls do once, when pending (the informers whose first list
// has not completed) is first empty, checking every period; or after
// maxWait, for an informer that never lists (the workloads without their
// RBAC): the others have long listed. Not once ctx has ended.
func afterSync(ctx context.Context, pending func() []string, period, maxWait time.Duration, do func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	deadline := time.Now().Add(maxWait)
	for len(pending()) > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	if ctx.Err() == nil {
		do()
	}
}

// ready is /readyz: ready once every informer has completed its first list.
func ready(inf *kube.Informers) func() error {
	return func() error {
		if pending := inf.Pending(); len(pending) > 0 {
			return fmt.Errorf("waiting for the initial list of %s", strings.Join(pending, ", "))
		}
		return nil
	}
}
