"""The `exposure` command line: a thin shell that parses, calls one function and renders."""
