"""The pure core of exposure: facts, rules and the event-sourced ledger.

Nothing in this package touches the file system, a database driver, the command
line or the network. It is the part an auditor should be able to read in one
sitting: `facts` (what can be recorded), `rules` (what is rejected and why),
`nir` (how social security numbers are checked and pseudonymised), `times`
(how the three times are read), and `ledger` (how facts are appended).
"""
