"""A himo repository on disk: root, config, pointer files, ignore files, git access."""
