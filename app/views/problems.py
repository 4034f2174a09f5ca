"""问题学籍 screens: the school's problem records and actions, the authorities' counts and drill-down, arbitration."""


def register(appbuilder):
    pass
