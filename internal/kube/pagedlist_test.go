package kube

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// TrimmedList walks every page, asks the first at "" rather than "0" (so
// that the apiserver pages), and returns records with the list's
// resourceVersion.
func TestTrimmedListPages(t *testing.T) {
	var asked []metav1.ListOptions
	list := func(_ context.Context, o metav1.ListOptions) (runtime.Object, error) {
		asked = append(asked, o)
		page := 0
		if o.Continue != "" {
			_, _ = fmt.Sscan(o.Continue, &page)
		}
		out := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "42"}}
		for i := range 2 {
			out.Items = append(out.Items, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d-%d", page, i), Namespace: "ns"}})
		}
		if page < 2 {
			out.Continue = fmt.Sprint(page + 1)
		}
		return out, nil
	}
	obj, err := TrimmedList(list, NewTransform())(context.Background(), metav1.ListOptions{ResourceVersion: "0", Limit: 7})
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*RecordList)
	if len(got.Items) != 6 || got.ResourceVersion != "42" {
		t.Fatalf("%d items at %q, want 6 at 42", len(got.Items), got.ResourceVersion)
	}
	for _, it := range got.Items {
		if _, ok := it.(*record.Pod); !ok {
			t.Fatalf("item %T, want a *Pod record", it)
		}
	}
	want := []metav1.ListOptions{{Limit: listPageSize}, {Limit: listPageSize, Continue: "1"}, {Limit: listPageSize, Continue: "2"}}
	if fmt.Sprint(asked) != fmt.Sprint(want) {
		t.Errorf("asked %+v, want %+v", asked, want)
	}
}

// A relist at a given resourceVersion goes unpaged, as the reflector asks
// it; a continue token that expires restarts the list unpaged.
func TestTrimmedListRelistAndExpiredToken(t *testing.T) {
	var asked []metav1.ListOptions
	list := func(_ context.Context, o metav1.ListOptions) (runtime.Object, error) {
		asked = append(asked, o)
		if o.Continue != "" {
			return nil, apierrors.NewResourceExpired("continue token expired")
		}
		out := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "43"}, Items: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}}}}
		if o.Limit > 0 {
			out.Continue = "1"
		}
		return out, nil
	}
	for _, tc := range []struct {
		rv   string
		want []metav1.ListOptions
	}{
		{"42", []metav1.ListOptions{{ResourceVersion: "42"}}},
		{"", []metav1.ListOptions{{Limit: listPageSize}, {Limit: listPageSize, Continue: "1"}, {}}},
	} {
		asked = nil
		obj, err := TrimmedList(list, NewTransform())(context.Background(), metav1.ListOptions{ResourceVersion: tc.rv})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(obj.(*RecordList).Items); n != 1 {
			t.Errorf("rv %q: %d items, want the 1 of the last list", tc.rv, n)
		}
		if fmt.Sprint(asked) != fmt.Sprint(tc.want) {
			t.Errorf("rv %q: asked %+v, want %+v", tc.rv, asked, tc.want)
		}
	}
}
