"""The pure core of exposure: facts, rules, times and the proofs over them.

Nothing in this package touches the file system, a database driver, the command
line or the network. It is the part an auditor should be able to read in one
sitting: `facts` (what can be recorded), `rules` (what is rejected and why),
`nir` (how social security numbers are checked and pseudonymised), `times`
(how the three times are read). How facts are appended and stored is the write
side's business (`ledger/`).
"""
