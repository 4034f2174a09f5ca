"""疑似重复学籍: likely duplicates the three rules miss, for an officer to review (never acted on automatically)."""


def register(appbuilder):
    pass
