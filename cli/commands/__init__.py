"""The commands, one module per group of questions (`cli.main.COMMANDS` names each one)."""
