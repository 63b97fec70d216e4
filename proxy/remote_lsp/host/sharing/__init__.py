"""Sharing: one server process, many clients, each answered as if the server were its own.

An `Instance` owns a server process and its FIFOs; its `Mux` owns every piece of routing state
(client ids, server requests, documents) and does no I/O, so the sharing contract is tested in
process (ARCHITECTURE.md, "The sharing contract"). `documents`, `lending` (each client answered
on its own text), `shapes` and `adapt` are the mux's parts; `registry` is the durable record a
successor agent adopts servers from; `workspace` finds a client's project root.
"""
