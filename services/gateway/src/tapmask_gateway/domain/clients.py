"""Who is asking: defined once in ``tapmask_runtime.clients`` (the notifier counts its
streams' clients the same way)."""

from tapmask_runtime.clients import Network, address_key, client_address, parse_networks

__all__ = ["Network", "address_key", "client_address", "parse_networks"]
