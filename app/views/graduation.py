"""(being written)"""


def register(appbuilder):
    pass
