"""Approval screens (审批待办, 我的申请, 在办业务, attachments). Filled in by the approval-screens work."""


def register(appbuilder):
    pass
