"""sitecustomize.py for the Python processes of stages (see pipeline/executor.stage_env)."""
