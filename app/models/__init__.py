"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""
from app.models.org import OrgKind, OrgUnit, Region, SchoolType, Ownership  # noqa: F401
from app.models.account import Account  # noqa: F401
from app.models.audit import AuditLog  # noqa: F401
from app.models.job import Job, JobState  # noqa: F401
from app.models.student import Attachment, Guardian, Student, StudentHistory, StudentStatus  # noqa: F401
from app.models.requests import Party, Request, RequestState, RequestStep, StepDecision, StepRole  # noqa: F401
from app.models.process import BusinessWindow, DepartureTrace, ProcessSetting, WindowMode  # noqa: F401
from app.models.problems import ProblemKind, ProblemRecord, ProblemSide, ProblemState, Treatment  # noqa: F401
from app.models.school_year import (Graduation, GraduationState, HoldReason, PromotionHold, PromotionRun,  # noqa: F401
                                    PromotionState, SchoolClass, SchoolTerm, SchoolYear, TermKind)
from app.models.admission import (Admission, AdmissionKind, AdmissionListRow, AdmissionState, ClaimState,  # noqa: F401
                                  DuplicateAdmission, DuplicateState, EnrollmentPlan)
from app.models.zhongkao import (BonusState, Candidate, CandidateCategory, CandidateOrigin, HukouKind,  # noqa: F401
                                 InfoState, QualState, ReviewState, StudyIntent, SubjectKind, ZkBonus, ZkExam,
                                 ZkPhoto, ZkRoom, ZkScore, ZkScoreReview, ZkSite, ZkSubject)
