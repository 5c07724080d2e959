// Package informer keeps an in-memory, indexed cache of one resource in sync with the apiserver by
// list+watch, and tells handlers about changes: the base of every controller, the scheduler, the
// nodeagent and netproxy.
//
// An Informer[T] lists (paginated), watches from the list's resourceVersion with bookmarks, resumes a
// watch that ends from the last resourceVersion it saw (so nothing is missed or repeated), relists on
// 410 Gone and dispatches the difference (adds, updates and the deletes it missed), and retries with
// capped backoff while the apiserver is unreachable. Store[T] is the thread-safe cache with a namespace
// index and custom indexes (by label, owner UID, node name...).
//
// It does not copy objects: what the cache hands out is shared and must not be modified. It does not
// write to the API; pair it with shared/workqueue and shared/client.
package informer
