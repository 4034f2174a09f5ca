"""业务日历 and 业务设置 screens: business calendars and route settings of 学籍异动."""


def register(appbuilder):
    pass
