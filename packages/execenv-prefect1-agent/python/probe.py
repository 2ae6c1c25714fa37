"""Checks that this Python has a working Prefect 1: the version, the local agent, and flow
serialization (which newer marshmallow releases break). Prints one line saying what is
wrong and exits 1, or prints the version."""
import sys

try:
    import prefect
    from prefect.agent.local import LocalAgent  # noqa: F401
    from prefect.run_configs import LocalRun

    if not prefect.__version__.startswith("1."):
        print(f"it has Prefect {prefect.__version__}, not Prefect 1")
        sys.exit(1)
    prefect.Flow("probe", run_config=LocalRun()).serialize(build=False)
except Exception as error:  # noqa: BLE001 - any failure means this installation cannot run a batch
    print(f"{type(error).__name__}: {error}".splitlines()[0])
    sys.exit(1)
print(prefect.__version__)
