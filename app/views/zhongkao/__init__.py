"""中招 screens (menu 中招管理). Every view, API and menu entry is named Zk… (config.ZHONGKAO_VIEWS);
what each level may do is decided in app/services/zhongkao/."""
from flask_babel import lazy_gettext as _l

MENU = dict(category="ZkMenu", category_label=_l("中招管理"), category_icon="fa-graduation-cap")


def register(appbuilder):
    from app.views.zhongkao import exam_admin, info, qualification, registration, scores
    registration.register(appbuilder)   # 中考设置, 中考报名, 考生信息
    info.register(appbuilder)           # 信息采集与确认, 信息变更申请, 激活码
    qualification.register(appbuilder)  # 资格审核, 分配生, 加分/照顾
    exam_admin.register(appbuilder)     # 考点考场, 编排, 准考证
    scores.register(appbuilder)         # 科目与成绩, 发布, 复核
