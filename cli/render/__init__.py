"""How answers look to people: rich tables and the roster progress bar."""
