"""问题学籍 API: list, handle (删除/佐证/变更/结转), arbitrate, counts, detection job."""


def register(appbuilder):
    pass
