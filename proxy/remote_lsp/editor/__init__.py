"""The editor side: reaching hosts over SSH, installing the host side there,
and bridging an editor's session to it. Never shipped to hosts.
"""
