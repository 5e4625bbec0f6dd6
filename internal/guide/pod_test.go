package guide

import (
	"testing"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

func TestLabels(t *testing.T) {
	for _, tc := range []struct {
		term           record.Termination
		code, sig, why string
	}{
		{record.Termination{Reason: "OOMKilled", ExitCode: 137}, "137", "SIGKILL", "OOMKilled"},
		{record.Termination{Reason: "Error", ExitCode: 143}, "143", "SIGTERM", "Error"},
		{record.Termination{Reason: "Error", ExitCode: 139}, "139", "SIGSEGV", "Error"},
		{record.Termination{Reason: "Error", ExitCode: 1}, "1", "", "Error"},
		{record.Termination{Reason: "Completed", ExitCode: 0}, "0", "", "Completed"},
		{record.Termination{Reason: "Error", ExitCode: -1}, "other", "", "Error"},
		{record.Termination{Reason: "Error", ExitCode: 70000}, "other", "", "Error"},
		{record.Termination{Reason: "Error", Signal: 6}, "0", "SIGABRT", "Error"},
		{record.Termination{Reason: "SomethingNew\x00\n"}, "0", "", "Other"},
		{record.Termination{}, "0", "", "Unknown"},
	} {
		if got := ExitCodeLabel(tc.term.ExitCode); got != tc.code {
			t.Errorf("%+v: exit code %q, want %q", tc.term, got, tc.code)
		}
		if got := SignalLabel(&tc.term); got != tc.sig {
			t.Errorf("%+v: signal %q, want %q", tc.term, got, tc.sig)
		}
		if got := ReasonLabel(tc.term.Reason); got != tc.why {
			t.Errorf("%+v: reason %q, want %q", tc.term, got, tc.why)
		}
	}
}
