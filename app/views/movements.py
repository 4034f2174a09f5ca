"""学籍异动 screens: 转入申请, 跨省转入, 转出记录 (the former school's traces)."""


def register(appbuilder):
    pass
