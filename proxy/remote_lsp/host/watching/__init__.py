"""Watching: one watcher per agent, serving every language server and every editor's open files.

`watcher` turns inotify (or polling, only where inotify is refused, at its limit or on a
network file system) into coalesced batches per subscriber; `inotify` is the ctypes binding;
`globs` the LSP 3.17 patterns; `serverwatch` one server's watched-file registrations, served
on the host. An idle watch costs no CPU.
"""
