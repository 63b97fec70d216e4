"""Files through the agent: what an editor reads and writes on this host.

`disk` reads, stats, lists and writes (atomically, never over a version the editor did not
see, only regular files, never left half-written: a journal of writes in progress lets the next
agent clean up after a killed one); `service` serves the editors' file channels (linked sessions) off the
event loop and tells them of changes to the files they hold; `commands` is `cat`, `stat` and
`put` for scripts. A version is `size:mtime_ns:sha256`, compared by content.
"""
