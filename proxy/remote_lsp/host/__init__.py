"""The host side: the agent and everything it runs, shipped to every host.

The agent (agent.py) holds the servers and the editors' sessions; its subsystems are folders,
each with its contract in its own docstring: `sharing/` (one server, many clients), `files/`
(what editors read and write here), `search/` (find and grep in a project), `watching/` (one
watcher for all of them) and `attach/` (adopting a running server by PID).

Standard library only, Python 3.8+. Imports `wire/`, never `editor/`.
"""
