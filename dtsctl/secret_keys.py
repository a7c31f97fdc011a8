"""The attribute keys whose values are always secret, wherever they appear: the one place that says so.

`uri`: a MongoDB connection string, which may hold a password. It is always hidden: a hash
cannot be shown in part.
"""

ALWAYS_SENSITIVE_KEYS = frozenset({"password", "uri"})
