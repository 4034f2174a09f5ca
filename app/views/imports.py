"""Import screens (批量导入): template download, upload, progress on 我的任务. Filled in by the import-screens work."""


def register(appbuilder):
    pass
