"""The `himo` command: thin wrappers that parse arguments, call himo.api and render results."""
