// Package resource turns what a user types (resource words, "type/name" arguments, manifest files,
// folders and stdin) into concrete API objects and requests, and gives skiffctl a dynamic client that
// works on untyped JSON objects for every resource in shared/api/resources.
//
// It knows nothing about printing or about any one command's semantics.
package resource
