"""Search in the projects on this host: file names and text, for editors elsewhere.

`ignore` holds ripgrep's rules for what a search sees (.gitignore, .ignore,
.rgignore, .git/info/exclude, hidden files, `-g` globs); `index` the file list
of a searched tree, in memory, built on first use and kept current by the
watcher, so a find walks nothing; `grep` the text search (ripgrep, else git
grep in a work tree, else our own), one form of answer for all three;
`service` answers search/files and search/grep on an editor's file channel,
each on a thread of its own, streamed as `$/progress` and cancelled at once
(`$/cancelRequest`, or a newer search of the same kind); `commands` is
`find` and `grep` for scripts.

Contract: on the same tree, a find lists what `rg --files` lists and a grep
finds what `rg --vimgrep` finds, whatever the engine (tests/test_search.py);
a cancelled search leaves nothing running on the host.
"""
