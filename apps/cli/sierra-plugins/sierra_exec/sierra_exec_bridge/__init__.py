"""sierra-exec's execenvs for SIERRA (see plugin.py)."""


def sierra_plugin_type() -> str:
    return "pipeline"
