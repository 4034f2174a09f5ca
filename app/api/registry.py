"""REST API of the registry (students, requests). Filled in by the registry-API work."""


def register(appbuilder):
    pass
