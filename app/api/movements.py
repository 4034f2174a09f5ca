"""学籍异动 API: transfers, status changes, calendars, route settings, history."""


def register(appbuilder):
    pass
