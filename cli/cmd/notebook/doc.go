// Package notebook is `tandem notebook`: uploads and verified downloads of
// the files of a workspace's notebook share. It imports cmdutil and the
// root package's service interfaces (which its tests fake); it must not
// import other cli/cmd packages, server or region.
package notebook
