"""中招: the high-school admission platform (architecture: services/zhongkao/).

Part 1 here: the year's exam and its configuration (exams), 中考报名 from the registry and by hand
(registration), candidate accounts and the portal's sign-in (accounts), 信息采集, confirmation and
locking (info), 资格审核 with 分配生 eligibility and 加分/照顾 (qualification), 考务 (exam_admin, tickets),
and scores with publication and 复核 (scores)."""
