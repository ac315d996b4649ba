"""The client conformance suite (its rules arrive with a later issue).

Scenarios already name the rules they are meant for (``rules:``); this package
will grade a client's journal against them.
"""

__all__: list[str] = []
