-- The exit codes of `remote-lsp`, as proxy/remote_lsp/wire/errors.py defines them
-- (EXIT_CODES there; tests/test_contracts.py checks that the two agree).
return {
  OK = 0,
  FAILED = 1, -- anything else; for connect, a session that failed (most often, its server exited)
  USAGE = 2,
  NO_SUCH_PROCESS = 3,
  REFUSED = 4,
  ATTACH_FAILED = 5,
  TRANSPORT = 6,
  -- connect: its agent went away (died, or handed over to a newer one) and the
  -- server runs on: connecting again finds it, warm.
  AGENT_GONE = 7,
}
