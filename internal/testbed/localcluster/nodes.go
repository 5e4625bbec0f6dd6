package localcluster

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// AddNode registers a simulated node, starts the kwok process that plays
// its kubelet, and waits until the node is Ready.
func (c *Cluster) AddNode(ctx context.Context, name string) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:   name,
		Labels: map[string]string{"kubernetes.io/hostname": name, "type": "kwok"},
	}}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating node %s: %w", name, err)
	}
	if err := c.defineNodeAgent(name).start(ctx, startTimeout); err != nil {
		return err
	}
	return c.wait(ctx, "node "+name+" Ready", func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // retried until the deadline
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// StopLeaseRenewal stops the process playing the node's kubelet: its Lease
// in kube-node-lease is no longer renewed and its pods no longer change, as
// when a node shuts down or its kubelet dies.
func (c *Cluster) StopLeaseRenewal(node string) error {
	return c.StopComponent(NodeAgent(node))
}

// ResumeLeaseRenewal starts the node's kubelet stand-in again, and reports
// its running pods ready as a kubelet does when it is back: while the node
// was not ready, the node controller marked them not ready, and kwok does
// not report them again. Pods with a container not running (crash looping,
// say) stay as they are.
func (c *Cluster) ResumeLeaseRenewal(ctx context.Context, node string) error {
	if err := c.StartComponent(ctx, NodeAgent(node)); err != nil {
		return err
	}
	pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		if PodReady(&p) || !allRunning(&p) {
			continue
		}
		if err := c.SetPodReady(ctx, p.Namespace, p.Name, true); err != nil {
			return fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	return nil
}

// PodReady reports the pod's Ready condition.
func PodReady(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func allRunning(p *corev1.Pod) bool {
	if len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return true
}

// CreateNamespace creates a namespace and waits for its default
// ServiceAccount, which the controller-manager creates and pods need.
func (c *Cluster) CreateNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	err := c.wait(ctx, "ServiceAccount "+name+"/default", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil { // the controller-manager creates it: say what it was doing
		return fmt.Errorf("%w; %s log tail:\n%s", err, ControllerManager, tail(filepath.Join(c.Dir, ControllerManager+".log"), 30))
	}
	return nil
}

// Termination is a container death to write into a pod's status, as the
// kubelet would after the container exited.
type Termination struct {
	Container string
	Reason    string // OOMKilled, Error, ...
	ExitCode  int32
	Signal    int32
	Message   string
	// Restarts is the container's new restartCount.
	Restarts int32
}

// SetContainerTerminated records a termination in the pod's status: the
// container's lastState becomes terminated with the given reason and it is
// running again, restarted Restarts times.
func (c *Cluster) SetContainerTerminated(ctx context.Context, namespace, pod string, t Termination) error {
	now := metav1.NewTime(time.Now())
	return c.updateContainerStatus(ctx, namespace, pod, t.Container, func(cs *corev1.ContainerStatus) {
		cs.RestartCount = t.Restarts
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			Reason: t.Reason, ExitCode: t.ExitCode, Signal: t.Signal, Message: t.Message,
			StartedAt: metav1.NewTime(now.Add(-time.Second)), FinishedAt: now,
		}}
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	})
}

// SetContainerWaiting puts the container in the waiting state with reason
// (CrashLoopBackOff, ImagePullBackOff...), as the kubelet reports a
// container it cannot run.
func (c *Cluster) SetContainerWaiting(ctx context.Context, namespace, pod, container, reason string) error {
	return c.updateContainerStatus(ctx, namespace, pod, container, func(cs *corev1.ContainerStatus) {
		cs.Ready = false
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	})
}

// updateContainerStatus changes one container's status through the pod's
// status subresource, as the kubelet writes it.
func (c *Cluster) updateContainerStatus(ctx context.Context, namespace, pod, container string, change func(*corev1.ContainerStatus)) error {
	p, err := c.Client.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	found := false
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == container {
			found = true
			change(&p.Status.ContainerStatuses[i])
		}
	}
	if !found {
		return fmt.Errorf("pod %s/%s has no status for container %q yet", namespace, pod, container)
	}
	_, err = c.Client.CoreV1().Pods(namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

// SetPodReady sets the pod's Ready and ContainersReady conditions, as a
// readiness probe would. kwok only readies Pending pods, so a pod set not
// ready stays so.
func (c *Cluster) SetPodReady(ctx context.Context, namespace, pod string, ready bool) error {
	p, err := c.Client.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	for i := range p.Status.Conditions {
		if t := p.Status.Conditions[i].Type; t == corev1.PodReady || t == corev1.ContainersReady {
			p.Status.Conditions[i].Status = status
			p.Status.Conditions[i].LastTransitionTime = metav1.Now()
		}
	}
	for i := range p.Status.ContainerStatuses {
		p.Status.ContainerStatuses[i].Ready = ready
	}
	_, err = c.Client.CoreV1().Pods(namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

// wait polls cond every 100ms until it holds, ctx ends, or a minute passes.
func (c *Cluster) wait(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, cond); err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}
