"""The commands, one module per group of the command line; each calls one `service` function and renders."""
