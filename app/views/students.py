"""Registry screens (学生学籍, 新生注册, 全省学籍查询). Filled in by the registry-screens work."""


def register(appbuilder):
    pass
