// Package server assembles one region server from its parts: the metadata
// store, the blob store, the region's services and the REST API. It owns
// their lifecycle (Open, Close) and nothing else: no business rules, no
// flag parsing (package cli does that).
package server
