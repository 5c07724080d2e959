package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/skiffhq/skiff/ctl/internal/remotecommand"
	"github.com/skiffhq/skiff/ctl/internal/resource"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/labels"
)

// defaultContainerAnnotation names the container logs and exec pick when -c is not given.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// resolvePod turns "NAME", "pod/NAME" or "deploy/NAME" (any workload with a selector) into a pod.
func resolvePod(ctx context.Context, f *Factory, arg string) (*corev1.Pod, error) {
	cs, err := f.Clientset()
	if err != nil {
		return nil, err
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return nil, err
	}
	typ, name, hasType := strings.Cut(arg, "/")
	if !hasType {
		typ, name = "pods", arg
	}
	r, err := resource.ResolveType(typ)
	if err != nil {
		return nil, err
	}
	if r.GroupResource() == "pods" {
		return cs.Pods.Get(ctx, ns, name, client.GetOptions{})
	}
	d, err := f.Dynamic()
	if err != nil {
		return nil, err
	}
	obj, err := d.Get(ctx, resource.Ref{Resource: r, Namespace: ns, Name: name})
	if err != nil {
		return nil, err
	}
	var sel string
	if r.GroupResource() == "services" {
		sel = labels.SelectorFromSet(obj.StringMap("spec", "selector")).String()
	} else {
		sel, err = selectorOf(obj)
		if err != nil {
			return nil, err
		}
	}
	pods, err := cs.Pods.List(ctx, ns, client.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	if len(pods.Items) == 0 {
		return nil, fmt.Errorf("no pods found for %s/%s (selector %s)", resource.TypeName(r), name, sel)
	}
	// Prefer running, ready, then older pods, as kubectl does.
	items := pods.Items
	sort.SliceStable(items, func(i, j int) bool {
		ri, rj := items[i].Status.Phase == corev1.PodRunning, items[j].Status.Phase == corev1.PodRunning
		if ri != rj {
			return ri
		}
		return items[i].CreationTimestamp.Before(items[j].CreationTimestamp.Time)
	})
	if len(items) > 1 {
		fmt.Fprintf(f.IO.ErrOut, "Found %d pods, using pod/%s\n", len(items), items[0].Name)
	}
	return &items[0], nil
}

// selectorOf reads spec.selector of a workload as a label selector string.
func selectorOf(obj resource.Object) (string, error) {
	raw, ok := resource.Nested(obj, "spec", "selector")
	if !ok {
		return "", fmt.Errorf("%s %q has no selector", obj.Kind(), obj.Name())
	}
	m, _ := raw.(map[string]any)
	ml := resource.Object(m).StringMap("matchLabels")
	parts := []string{}
	if len(ml) > 0 {
		parts = append(parts, labels.SelectorFromSet(ml).String())
	}
	exprs, _ := m["matchExpressions"].([]any)
	for _, e := range exprs {
		em, _ := e.(map[string]any)
		key, _ := em["key"].(string)
		op, _ := em["operator"].(string)
		var vals []string
		for _, v := range toSlice(em["values"]) {
			vals = append(vals, fmt.Sprint(v))
		}
		switch op {
		case "In":
			parts = append(parts, fmt.Sprintf("%s in (%s)", key, strings.Join(vals, ",")))
		case "NotIn":
			parts = append(parts, fmt.Sprintf("%s notin (%s)", key, strings.Join(vals, ",")))
		case "Exists":
			parts = append(parts, key)
		case "DoesNotExist":
			parts = append(parts, "!"+key)
		}
	}
	if len(parts) == 0 && len(m) == 0 {
		// A selector-less service or a workload selecting by template labels.
		return "", fmt.Errorf("%s %q has an empty selector", obj.Kind(), obj.Name())
	}
	return strings.Join(parts, ","), nil
}

func toSlice(v any) []any { s, _ := v.([]any); return s }

// pickContainer applies -c, else the default-container annotation, else the first container.
func pickContainer(f *Factory, p *corev1.Pod, name string, quiet bool) (string, error) {
	if name != "" {
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			if c.Name == name {
				return name, nil
			}
		}
		return "", fmt.Errorf("container %s is not valid for pod %s", name, p.Name)
	}
	if d := p.Annotations[defaultContainerAnnotation]; d != "" {
		return d, nil
	}
	if len(p.Spec.Containers) == 0 {
		return "", fmt.Errorf("pod %s has no containers", p.Name)
	}
	if len(p.Spec.Containers) > 1 && !quiet {
		var names []string
		for _, c := range p.Spec.Containers {
			names = append(names, c.Name)
		}
		fmt.Fprintf(f.IO.ErrOut, "Defaulted container %q out of: %s\n", p.Spec.Containers[0].Name, strings.Join(names, ", "))
	}
	return p.Spec.Containers[0].Name, nil
}

func newLogs(f *Factory) *cobra.Command {
	var container, selector, since string
	var follow, previous, timestamps, allContainers, prefix bool
	var tail int64
	var maxRequests int
	c := &cobra.Command{
		Use:   "logs (POD | TYPE/NAME | -l SELECTOR) [-c CONTAINER]",
		Short: "Print the logs of a container",
		Example: `  skiffctl logs web-5d9f-abcde
  skiffctl logs -f deploy/web --tail=20
  skiffctl logs -l app=web --prefix`,
		ValidArgsFunction: completeFixedType(f, "pods"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cs, err := f.Clientset()
			if err != nil {
				return err
			}
			opts := client.PodLogOptions{Follow: follow, Previous: previous, Timestamps: timestamps}
			if tail >= 0 {
				opts.TailLines = &tail
			}
			if since != "" {
				d, err := time.ParseDuration(since)
				if err != nil {
					return usagef("invalid --since %q: %v", since, err)
				}
				s := int64(d.Seconds())
				opts.SinceSeconds = &s
			}
			type stream struct {
				pod       *corev1.Pod
				container string
			}
			var streams []stream
			switch {
			case selector != "":
				if len(args) > 0 {
					return usagef("only a selector (-l) or a POD name is allowed")
				}
				ns, _, err := f.Namespace()
				if err != nil {
					return err
				}
				list, err := cs.Pods.List(ctx, ns, client.ListOptions{LabelSelector: selector})
				if err != nil {
					return err
				}
				for i := range list.Items {
					p := &list.Items[i]
					if allContainers {
						for _, c := range p.Spec.Containers {
							streams = append(streams, stream{p, c.Name})
						}
						continue
					}
					name, err := pickContainer(f, p, container, true)
					if err != nil {
						return err
					}
					streams = append(streams, stream{p, name})
				}
				if len(streams) == 0 {
					ns, _, _ := f.Namespace()
					fmt.Fprintf(f.IO.ErrOut, "No resources found in %s namespace.\n", ns)
					return nil
				}
				if follow && len(streams) > maxRequests {
					return fmt.Errorf("you are attempting to follow %d log streams, but maximum allowed concurrency is %d, use --max-log-requests to increase the limit", len(streams), maxRequests)
				}
				prefix = prefix || false
			case len(args) == 1:
				p, err := resolvePod(ctx, f, args[0])
				if err != nil {
					return err
				}
				if allContainers {
					for _, c := range p.Spec.Containers {
						streams = append(streams, stream{p, c.Name})
					}
				} else {
					name, err := pickContainer(f, p, container, false)
					if err != nil {
						return err
					}
					streams = append(streams, stream{p, name})
				}
			case len(args) == 2 && container == "":
				p, err := resolvePod(ctx, f, args[0])
				if err != nil {
					return err
				}
				streams = append(streams, stream{p, args[1]})
			default:
				return usagef("expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'; POD or TYPE/NAME is a required argument")
			}
			out := &lockedWriter{w: f.IO.Out}
			run := func(s stream) error {
				o := opts
				o.Container = s.container
				body, err := cs.PodLogs(ctx, s.pod.Namespace, s.pod.Name, o)
				if err != nil {
					return err
				}
				defer body.Close()
				if !prefix {
					_, err = io.Copy(out, body)
					return err
				}
				sc := bufio.NewScanner(body)
				sc.Buffer(make([]byte, 64*1024), 1024*1024)
				for sc.Scan() {
					out.Write([]byte(fmt.Sprintf("[pod/%s/%s] %s\n", s.pod.Name, s.container, sc.Text())))
				}
				return sc.Err()
			}
			if len(streams) == 1 || !follow {
				var failures []error
				for _, s := range streams {
					if err := run(s); err != nil && ctx.Err() == nil {
						failures = append(failures, err)
					}
				}
				return errs(failures)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			var failures []error
			for _, s := range streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := run(s); err != nil && ctx.Err() == nil {
						mu.Lock()
						failures = append(failures, err)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			return errs(failures)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&container, "container", "c", "", "the container to print the logs of")
	fl.StringVarP(&selector, "selector", "l", "", "print the logs of every pod matching this selector")
	fl.BoolVarP(&follow, "follow", "f", false, "stream new log lines")
	fl.BoolVarP(&previous, "previous", "p", false, "print the logs of the previous (terminated) instance of the container")
	fl.BoolVar(&timestamps, "timestamps", false, "prefix each line with its RFC3339 timestamp")
	fl.Int64Var(&tail, "tail", -1, "print only the last N lines (-1: all; with -l the default is 10 in kubectl, all here)")
	fl.StringVar(&since, "since", "", "only lines newer than this duration (5s, 2m, 3h)")
	fl.BoolVar(&allContainers, "all-containers", false, "print the logs of every container")
	fl.BoolVar(&prefix, "prefix", false, "prefix each line with pod/NAME/CONTAINER")
	fl.IntVar(&maxRequests, "max-log-requests", 5, "how many log streams -l -f may follow at once")
	return c
}

// lockedWriter serializes writes from concurrent log streams.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newExec(f *Factory) *cobra.Command {
	var container string
	var stdin, tty, quiet bool
	c := &cobra.Command{
		Use:   "exec (POD | TYPE/NAME) [-c CONTAINER] [-i] [-t] -- COMMAND [ARG...]",
		Short: "Run a command in a container",
		Example: `  skiffctl exec web-5d9f-abcde -- hostname
  skiffctl exec -it deploy/web -- sh`,
		ValidArgsFunction: completeFixedType(f, "pods"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dash := cmd.ArgsLenAtDash()
			if len(args) == 0 {
				return usagef("expected 'exec (POD | TYPE/NAME) [-c CONTAINER] [-i] [-t] -- COMMAND [args...]'; POD or TYPE/NAME is a required argument")
			}
			var command []string
			switch {
			case dash == 1:
				command = args[1:]
			case dash < 0 && len(args) > 1:
				command = args[1:]
			case dash > 1:
				return usagef("exactly one POD or TYPE/NAME is allowed before --")
			}
			if len(command) == 0 {
				return usagef("you must specify at least one command for the container")
			}
			p, err := resolvePod(ctx, f, args[0])
			if err != nil {
				return err
			}
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				return fmt.Errorf("cannot exec into a container in a completed pod; current phase is %s", p.Status.Phase)
			}
			name, err := pickContainer(f, p, container, quiet)
			if err != nil {
				return err
			}
			cfg, err := f.Config()
			if err != nil {
				return err
			}
			o := remotecommand.Options{Namespace: p.Namespace, Pod: p.Name, Container: name, Command: command,
				Stdout: f.IO.Out, Stderr: f.IO.ErrOut, TTY: tty}
			if stdin {
				o.Stdin = f.IO.In
			}
			if tty {
				in, ok := f.IO.In.(*os.File)
				if !stdin || !ok || !term.IsTerminal(int(in.Fd())) {
					if !quiet {
						fmt.Fprintln(f.IO.ErrOut, "Unable to use a TTY - input is not a terminal or the right kind of file")
					}
					o.TTY = false
				} else {
					state, err := term.MakeRaw(int(in.Fd()))
					if err != nil {
						return fmt.Errorf("setting the terminal to raw mode: %w", err)
					}
					defer term.Restore(int(in.Fd()), state)
					o.Resize = resizes(ctx, int(in.Fd()))
				}
			}
			err = remotecommand.Exec(ctx, *cfg, o)
			var exit *remotecommand.ExitCodeError
			if errors.As(err, &exit) {
				return &ExitError{Code: exit.Code}
			}
			return err
		},
	}
	c.Flags().StringVarP(&container, "container", "c", "", "the container to run in")
	c.Flags().BoolVarP(&stdin, "stdin", "i", false, "pass stdin to the command")
	c.Flags().BoolVarP(&tty, "tty", "t", false, "allocate a terminal (with -i, stdin must be a terminal)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the command's output")
	return c
}

// resizes sends the terminal size now and on every SIGWINCH.
func resizes(ctx context.Context, fd int) <-chan remotecommand.TerminalSize {
	ch := make(chan remotecommand.TerminalSize, 1)
	send := func() {
		if w, h, err := term.GetSize(fd); err == nil {
			select {
			case ch <- remotecommand.TerminalSize{Width: uint16(w), Height: uint16(h)}:
			default:
			}
		}
	}
	send()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				send()
			}
		}
	}()
	return ch
}
