package client

import (
	"net/url"
	"strconv"
)

// PatchType is the Content-Type of a PATCH body.
type PatchType string

// The patch types the API accepts.
const (
	StrategicMergePatchType PatchType = "application/strategic-merge-patch+json"
	MergePatchType          PatchType = "application/merge-patch+json"
	JSONPatchType           PatchType = "application/json-patch+json"
	ApplyPatchType          PatchType = "application/apply-patch+yaml"
)

// ListOptions are the query parameters of a list or watch. Zero fields are not sent.
type ListOptions struct {
	// LabelSelector, e.g. "app=web,tier in (a,b),!canary".
	LabelSelector string
	// FieldSelector, e.g. "spec.nodeName=node1" or "status.phase!=Succeeded".
	FieldSelector string
	// ResourceVersion: for a list, "" = latest, "0" = any, "N" = not older than N; for a watch, the
	// revision to stream changes after ("" or "0" first sends ADDED for everything that exists).
	ResourceVersion string
	// ResourceVersionMatch is "Exact" or "NotOlderThan" (lists with a ResourceVersion).
	ResourceVersionMatch string
	// Limit and Continue page a list.
	Limit    int64
	Continue string
	// TimeoutSeconds asks the server to end the list or watch after that long.
	TimeoutSeconds int64
	// AllowWatchBookmarks asks the server for BOOKMARK events (watch only).
	AllowWatchBookmarks bool
}

func (o ListOptions) query(watch bool) url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	if o.ResourceVersion != "" {
		q.Set("resourceVersion", o.ResourceVersion)
	}
	if o.ResourceVersionMatch != "" {
		q.Set("resourceVersionMatch", o.ResourceVersionMatch)
	}
	if o.Limit > 0 && !watch {
		q.Set("limit", strconv.FormatInt(o.Limit, 10))
	}
	if o.Continue != "" && !watch {
		q.Set("continue", o.Continue)
	}
	if o.TimeoutSeconds > 0 {
		q.Set("timeoutSeconds", strconv.FormatInt(o.TimeoutSeconds, 10))
	}
	if watch {
		q.Set("watch", "true")
		if o.AllowWatchBookmarks {
			q.Set("allowWatchBookmarks", "true")
		}
	}
	return q
}

// GetOptions are the query parameters of a get.
type GetOptions struct {
	// ResourceVersion: "" = latest, "0" = any cached copy.
	ResourceVersion string
}

func (o GetOptions) query() url.Values {
	q := url.Values{}
	if o.ResourceVersion != "" {
		q.Set("resourceVersion", o.ResourceVersion)
	}
	return q
}

// WriteOptions are the query parameters of create, update and patch.
type WriteOptions struct {
	// DryRun ["All"] validates without persisting.
	DryRun []string
	// FieldManager names the writer (required for server-side apply).
	FieldManager string
	// FieldValidation is "Ignore", "Warn" or "Strict".
	FieldValidation string
	// Force takes ownership of conflicting fields in a server-side apply.
	Force bool
}

// CreateOptions, UpdateOptions and PatchOptions are the same write options under the names client-go
// users expect.
type (
	CreateOptions = WriteOptions
	UpdateOptions = WriteOptions
	PatchOptions  = WriteOptions
)

func (o WriteOptions) query() url.Values {
	q := url.Values{}
	for _, d := range o.DryRun {
		q.Add("dryRun", d)
	}
	if o.FieldManager != "" {
		q.Set("fieldManager", o.FieldManager)
	}
	if o.FieldValidation != "" {
		q.Set("fieldValidation", o.FieldValidation)
	}
	if o.Force {
		q.Set("force", "true")
	}
	return q
}
