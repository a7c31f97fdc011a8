from tests.unit.config.conftest import load, problems, write  # noqa: F401  (the declaration fixtures)
