"""Every import of the product, one spec module each. Importing this package registers them
(in this order on the 批量导入 screen)."""
from app.imports.specs import new_students  # noqa: F401
from app.imports.specs import graduation_info  # noqa: F401
from app.imports.specs import admission_list  # noqa: F401
from app.imports.specs import self_admission  # noqa: F401
from app.imports.specs import zk_scores  # noqa: F401
