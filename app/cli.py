"""`flask …` commands."""
import click
from flask import current_app
from flask.cli import with_appcontext

from app.extensions import db


def print_accounts(rows):
    click.echo("")
    click.echo("演示账号（demo accounts）— 密码均为 / password for all: " + rows[0][3] if rows else "")
    click.echo(f"{'级别':<10}{'机构':<24}用户名")
    for level, unit, username, _ in rows:
        click.echo(f"{level:<10}{unit:<24}{username}")
    click.echo("其余账号：city_<区划代码>、county_<区划代码>、school_<学校标识码>，密码相同。")
    click.echo("")


def setup_database(app=None):
    """Apply migrations and create role rows. Safe to run at every start."""
    from flask_migrate import upgrade
    from app.services.setup import ensure_roles
    upgrade()
    ensure_roles(db.session)
    db.session.commit()


def register(app):
    @app.cli.command("setup")
    @with_appcontext
    def setup_cmd():
        """升级数据库并初始化角色。"""
        setup_database()
        click.echo("数据库已就绪")

    @app.cli.command("demo")
    @click.option("--province", default="360000", help="省级行政区划代码（默认 360000 江西）")
    @click.option("--schools-per-county", default=3, type=int)
    @click.option("--students", default=0, type=click.IntRange(min=0),
                  help="另外生成的在校学生人数（每次执行都再新增这么多；默认 0）")
    @with_appcontext
    def demo_cmd(province, schools_per_county, students):
        """建立演示省份（可重复执行）。"""
        from app.services import demo
        setup_database()
        units, users = demo.load_demo(db.session, province, schools_per_county)
        click.echo(f"新增机构 {units} 个，新增账号 {users} 个")
        if students:
            from app.services.demo_students import generate_students
            step = max(students // 10, 1)
            shown = [0]

            def progress(done, total):
                if done - shown[0] >= step or done == total:
                    shown[0] = done
                    click.echo(f"  学生 {done}/{total}")
            result = generate_students(db.session, students, province, progress=progress)
            db.session.commit()
            click.echo(f"新增在校学生 {result['students']} 名（含监护人与学籍历史），用时 {result['seconds']:.1f} 秒，"
                       f"每秒 {result['students'] / max(result['seconds'], 1e-9):,.0f} 名（{result['method']}）")
        print_accounts(demo.sample_accounts(db.session, province))

    @app.cli.command("import")
    @click.argument("spec_name", metavar="SPEC")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--as", "username", required=True, help="以该账号的身份与数据范围导入")
    @click.option("--dry-run", is_flag=True, help="只校验，不写入")
    @click.option("--valid-only", is_flag=True, help="只导入正确的行，错误行写入标注文件")
    @with_appcontext
    def import_cmd(spec_name, path, username, dry_run, valid_only):
        """用导入引擎导入一个文件（与界面相同的规则与数据范围）。"""
        import os
        from sqlalchemy import select
        from app.imports import engine, spec as specs
        from app.imports import specs as _registered  # noqa: F401
        from app.models import Account
        from app.services.context import acting_as
        from app.services.errors import DomainError
        actor = db.session.scalar(select(Account).where(Account.username == username))
        if actor is None or not actor.active:
            raise click.ClickException(f"账号 {username} 不存在或已停用")
        base, _ = os.path.splitext(path)
        try:
            with acting_as(actor, reason=f"命令行导入 {os.path.basename(path)}"):
                summary = engine.run_import(db.session, actor, specs.get(spec_name), path, os.path.basename(path),
                                            valid_only=valid_only, dry_run=dry_run, error_path=f"{base}_错误标注.xlsx",
                                            progress=lambda pct, msg=None: click.echo(f"  {pct:3d}% {msg or ''}", err=True))
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message)
        click.echo(f"{summary['message']}（读取 {summary['read']} 行，导入 {summary['accepted']} 行，"
                   f"有误 {summary['rejected']} 行，用时 {summary['seconds']} 秒）")
        if summary["error_file"]:
            click.echo(f"错误标注文件：{summary['error_file']}")
        if summary["rejected"] and not valid_only:
            raise SystemExit(1)

    @app.cli.command("detect-problems")
    @click.option("--as", "username", default="sheng_admin", show_default=True, help="以该省级账号的名义检测（审计留痕）")
    @with_appcontext
    def detect_problems_cmd(username):
        """问题学籍检测（全省，可由 cron 定时执行；重复执行不会产生重复记录）。"""
        import time
        from sqlalchemy import select
        from app.models import Account
        from app.services import problems
        from app.services.context import acting_as
        from app.services.errors import DomainError
        actor = db.session.scalar(select(Account).where(Account.username == username))
        if actor is None or not actor.active:
            raise click.ClickException(f"账号 {username} 不存在或已停用")
        started = time.monotonic()
        try:
            problems.check_may_run_detection(actor)
            with acting_as(actor, reason="命令行：问题学籍检测"):
                counts = problems.detect(db.session, actor)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message)
        click.echo(f"问题学籍检测完成（{time.monotonic() - started:.1f} 秒）：发现 {counts['found']} 条问题记录，"
                   f"新增 {counts['new']} 个问题，已解决 {counts['resolved']} 个，未解决共 {counts['open']} 个")

    @app.cli.command("promote")
    @click.option("--due", is_flag=True, help="执行已到升级时点、尚未升级的学年（与定时任务相同，可由 cron 调用）")
    @click.option("--year", "start_year", type=int, help="立即升级该学年（起始年份，如 2026 表示 2026-2027学年）")
    @click.option("--as", "username", default="sheng_admin", show_default=True, help="以该省级账号的名义执行（--year）")
    @with_appcontext
    def promote_cmd(due, start_year, username):
        """升级：全省非毕业年级升入上一年级（每学年只执行一次，重复执行不会重复升级）。"""
        from sqlalchemy import select
        from app.models import Account
        from app.services import promotion, school_years
        from app.services.errors import DomainError
        if due == (start_year is not None):
            raise click.ClickException("请指定 --due 或 --year 其中之一")
        try:
            if due:
                done = promotion.run_due(db.session)
            else:
                year = school_years.year_by_start(db.session, start_year)
                if year is None:
                    raise click.ClickException(f"{start_year}-{start_year + 1}学年尚未设置")
                actor = db.session.scalar(select(Account).where(Account.username == username))
                if actor is None or not actor.active:
                    raise click.ClickException(f"账号 {username} 不存在或已停用")
                done = promotion.run(db.session, actor, year.id)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message)
        if done is None:
            click.echo("没有到达升级时点的学年，未执行升级")
        else:
            click.echo(f"{done}完成（{done.seconds} 秒）：升级 {done.promoted} 名学生、{done.classes} 个班级，"
                       f"留在原年级 {done.held} 名；{done.grace_until:%Y-%m-%d %H:%M} 前可由省级撤销")

    @app.cli.command("load-regions")
    @with_appcontext
    def regions_cmd():
        """载入/更新全国行政区划（省、市、县三级）。"""
        from app.codes.regions import load_regions, source_metadata
        added, changed = load_regions(db.session)
        db.session.commit()
        meta = source_metadata()
        click.echo(f"行政区划：新增 {added}，更名 {changed}（数据截至 {meta['data_as_of']}）")
