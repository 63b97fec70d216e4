"""The host side: the agent and everything it runs, shipped to every host.

Standard library only, Python 3.8+. Imports `wire/`, never `editor/`.
"""
