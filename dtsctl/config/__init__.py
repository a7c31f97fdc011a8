"""The declaration layer: reads `*.dts.yaml` files into resources; never touches state or databases."""

from dtsctl.config.fmt import format_yaml
from dtsctl.config.workspace import OutputValue, Workspace, load_workspace

__all__ = ["OutputValue", "Workspace", "format_yaml", "load_workspace"]
